"""The English catalog: complete, holding every string the sources mark for translation, and its
committed .mo in step with the .po (CI has no gettext)."""

import ast
import functools
import gettext
import re
from pathlib import Path

from django.conf import settings
from django.utils.translation.template import templatize

CATALOG = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"


def _po_entries(*, plurals: bool = False) -> dict[str, str]:
    """msgid -> msgstr (the singular form for plurals; with `plurals`, both forms of each, joined
    by a newline), the header left out."""
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
        if not msgid:
            continue
        msgstr = "".join(fields.get("msgstr", fields.get("msgstr[0]", []))).replace('\\"', '"')
        if plurals and "msgid_plural" in fields:
            msgid += "\n" + "".join(fields["msgid_plural"])
            msgstr += "\n" + "".join(fields.get("msgstr[1]", []))
        entries[msgid] = msgstr
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


# --- What the sources mark for translation, found without gettext's tools ------------------------

SOURCES = [Path(settings.BASE_DIR) / folder for folder in ("apps", "prosperas", "templates")]
# Staff pages: Django's own admin strings, translated by Django's catalogs.
NOT_CONSUMER_FACING = [Path(settings.BASE_DIR) / "templates" / "admin"]
TEMPLATE_CALL = re.compile(r"\b(gettext|ngettext|pgettext|npgettext)\(((?:u'(?:[^'\\]|\\.)*'(?:, )?)+)")
TEMPLATE_STRING = re.compile(r"u'(?:[^'\\]|\\.)*'")
PYTHON_MARKERS = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy",
                  "pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}


def _python_msgids(source: str) -> set[str]:
    msgids = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in PYTHON_MARKERS:
            continue
        first = 1 if name.startswith(("pgettext", "npgettext")) else 0  # after the context
        strings = [arg.value for arg in node.args[first:first + 2] if isinstance(arg, ast.Constant)
                   and isinstance(arg.value, str)]
        if strings:
            msgids.add(strings[0])
    return msgids


def _template_msgids(source: str, origin: str) -> set[str]:
    """Django's templatize (what makemessages feeds xgettext) turns {% translate %} and
    {% blocktranslate %} into gettext(u'...') calls amid filler; read those calls."""
    msgids = set()
    for call in TEMPLATE_CALL.finditer(templatize(source, origin=origin)):
        strings = TEMPLATE_STRING.findall(call.group(2))
        msgids.add(ast.literal_eval(strings[1 if call.group(1).startswith(("pgettext", "npgettext")) else 0]))
    return msgids


@functools.cache
def source_msgids() -> frozenset[str]:
    msgids = set()
    for folder in SOURCES:
        for path in folder.rglob("*"):
            if "migrations" in path.parts or any(path.is_relative_to(skip) for skip in NOT_CONSUMER_FACING):
                continue
            if path.suffix == ".py":
                msgids |= _python_msgids(path.read_text(encoding="utf-8"))
            elif path.suffix in (".html", ".txt"):
                msgids |= _template_msgids(path.read_text(encoding="utf-8"), str(path))
    return frozenset(msgids)


def test_every_string_the_sources_mark_for_translation_has_its_english(settings):
    settings.USE_I18N = True
    entries = _po_entries()
    msgids = source_msgids()

    assert len(msgids) > 150
    assert sorted(msgid for msgid in msgids if not entries.get(msgid)) == [], (
        "add them to locale/en/LC_MESSAGES/django.po (README: the consumer flow)")


def test_the_spanish_corrections_write_months_and_days_in_lower_case_and_their_mo_is_current():
    """locale/es_CO only corrects Django's own Colombian Spanish, which capitalizes them."""
    folder = Path(settings.BASE_DIR) / "locale" / "es_CO" / "LC_MESSAGES"
    entries = re.findall(r'^(?:msgctxt "(.*)"\n)?msgid "(.+)"\nmsgstr "(.+)"$', (folder / "django.po").read_text(),
                         re.MULTILINE)
    with (folder / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)

    assert {msgid for _, msgid, _ in entries} >= {"December", "Monday", "Dec."}
    assert all(msgstr == msgstr.lower() for _, _, msgstr in entries)
    stale = [msgid for context, msgid, msgstr in entries
             if (compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)) != msgstr]
    assert stale == [], "run: manage.py compilemessages -l es_CO -i .venv"
