"""Publishing consent texts: a version goes live for every language and mode at once, or not at all."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.legal.models import ConsentText


class ConsentVersionError(Exception):
    """A version that cannot be published, and why (said to staff)."""


@transaction.atomic
def consent_version_publish(*, version: str) -> int:
    """Publish the draft rows of `version`: every language and mode must be there and none may be
    published already (a published version never changes; write a new one). Returns the rows
    published. Two staff pressing at once: the second finds the rows published and is refused."""
    rows = list(ConsentText.objects.select_for_update().filter(version=version))
    if not rows:
        raise ConsentVersionError(f"There is no consent text of version {version!r}.")
    if any(row.is_published for row in rows):
        raise ConsentVersionError(f"Version {version!r} is already published; write a new version to change it.")
    present = {(row.language, row.mode) for row in rows}
    missing = [f"{language}/{mode}" for language in ConsentText.Language.values for mode in ConsentText.Mode.values
               if (language, mode) not in present]
    if missing:
        raise ConsentVersionError(f"Version {version!r} lacks its texts for {', '.join(missing)}.")
    for row in rows:
        if not all(value.strip() for value in (row.terms_label, row.privacy_label, row.data_processing_label,
                                               row.sharing)):
            raise ConsentVersionError(f"{row} has an empty text.")
    return ConsentText.objects.filter(pk__in=[row.pk for row in rows]).update(published_at=timezone.now())
