"""The English catalog: complete, and its committed .mo in step with the .po (CI has no gettext)."""

import gettext
import re
from pathlib import Path

from django.conf import settings

CATALOG = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"


def _po_entries() -> dict[str, str]:
    """msgid -> msgstr (the singular form for plurals), the header left out."""
    entries = {}
    for block in (CATALOG / "django.po").read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[0\])?|msgstr\[\d\]) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = [match.group(2)]
            elif current and line.startswith('"'):
                fields[current].append(line[1:-1])
        msgid = "".join(fields.get("msgid", [])).replace('\\"', '"')
        if msgid:
            entries[msgid] = "".join(fields.get("msgstr", fields.get("msgstr[0]", []))).replace('\\"', '"')
    return entries


def test_every_string_of_the_english_catalog_is_translated():
    entries = _po_entries()

    assert len(entries) > 150
    assert [msgid for msgid, msgstr in entries.items() if not msgstr] == []


def test_the_committed_mo_says_what_the_po_says():
    with (CATALOG / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)

    stale = [msgid for msgid, msgstr in _po_entries().items()
             if "\\n" not in msgid and compiled.gettext(msgid) != msgstr]
    assert stale == [], "run: manage.py compilemessages -l en -i .venv"
