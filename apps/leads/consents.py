"""The consent texts Prosperas has published, by version.

A consumer's acceptance is stored with the version of the text they saw (leads.Consent), so an
acceptance can be proven later (Ley 1581 de 2012). The hosted flow shows the current version; an
origin that renders its own screens (apps.origin_api) must name a version published here, and
its acceptance may not predate that version's publication.
"""

from __future__ import annotations

import datetime

from apps.leads.models import Consent

# version -> the day it was published. Add a version when the texts change; never remove one
# (acceptances of it are on record). The version's texts are templates/flow/legal.html.
PUBLISHED_CONSENT_TEXTS: dict[str, datetime.date] = {
    "2026-11-01": datetime.date(2026, 11, 1),
}
# The version the hosted flow shows and records now: the latest published.
CONSENT_TEXT_VERSION = max(PUBLISHED_CONSENT_TEXTS, key=PUBLISHED_CONSENT_TEXTS.__getitem__)
# Every kind a consumer must accept before a lender may study an application.
REQUIRED_CONSENT_KINDS: tuple[str, ...] = tuple(Consent.Kind.values)


def consent_version_published_on(version: str) -> datetime.date | None:
    """The day `version` was published, or None when Prosperas never published it."""
    return PUBLISHED_CONSENT_TEXTS.get(version)
