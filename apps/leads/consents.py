"""The consent texts a journey is shown and must accept, and the proof of what it accepted.

The texts are content staff publish in admin (apps.legal: ConsentText, one row per version,
language and mode; a published row never changes). A consumer's acceptance is stored pointing at
the exact row they saw (leads.Consent), so it can be proven later (Ley 1581 de 2012). The hosted
flow shows the latest published text for the journey's language and mode; an origin that renders
its own screens (apps.origin_api) must name a published version, and its acceptance may not
predate that version's publication.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q

from apps.leads.models import Consent, DecisionRequest, Lead
from apps.lenders.models import Lender, LenderCall
from apps.legal.models import ConsentText
from apps.legal.selectors import (
    consent_text_current,
    consent_text_for_version,
    consent_text_published,
    consent_version_published_on,
    consent_versions_published,
)

# Re-exported: the journey's callers (flow, origin_api) read consent texts through this module.
__all__ = [
    "REQUIRED_CONSENT_KINDS", "ConsentReceipt", "consent_receipt", "consent_recipients", "consent_text_current",
    "consent_text_for_journey", "consent_text_for_version", "consent_text_published", "consent_version_published_on",
    "consent_versions_published", "consents_accepted",
]

# Every kind a consumer must accept before a lender may study an application.
REQUIRED_CONSENT_KINDS: tuple[str, ...] = tuple(Consent.Kind.values)


def consent_text_for_journey(lead: Lead, *, language: str) -> ConsentText | None:
    """What the consent step shows this journey now, in `language`."""
    return consent_text_current(language=language, compare_mode=lead.compare_mode)


def consents_accepted(lead: Lead) -> list[Consent]:
    """The journey's acceptances, with their texts, oldest first (the receipt reads them)."""
    return list(lead.consents.select_related("text").order_by("accepted_at", "kind"))


@dataclass(frozen=True)
class ConsentReceipt:
    """What a consumer accepted for a journey, as the receipt page and email show it."""

    accepted_at: datetime.datetime
    version: str
    language: str
    labels: tuple[str, ...]  # the checkbox texts accepted, in the order shown
    sharing: str  # who receives the data, as the page said it
    recipients: tuple[str, ...]  # the lenders that received the data, by name
    revoked_at: datetime.datetime | None


def consent_receipt(lead: Lead) -> ConsentReceipt | None:
    """The journey's receipt, or None when it accepted nothing yet."""
    consents = consents_accepted(lead)
    if not consents:
        return None
    first = consents[0]
    text = first.text
    shown = {consent.kind for consent in consents}
    labels = tuple(text.label_for(kind) for kind in REQUIRED_CONSENT_KINDS if kind in shown) if text else ()
    return ConsentReceipt(
        accepted_at=first.accepted_at, version=first.text_version, language=first.language,
        labels=labels, sharing=text.sharing if text else "",
        recipients=tuple(lender.name for lender in consent_recipients(lead)), revoked_at=lead.consent_revoked_at,
    )


def consent_recipients(lead: Lead) -> list[Lender]:
    """The lenders that received the consumer's data for this journey: every lender called with
    it (a decision or a submission, whatever the outcome: a failed call may still have delivered
    it), and in compare mode every lender asked (a call claimed as the revocation commits may
    have gone out)."""
    called = LenderCall.objects.filter(
        lead=lead, capability__in=[LenderCall.Capability.PREQUALIFY, LenderCall.Capability.SUBMIT],
    ).values("lender_id")
    asked = DecisionRequest.objects.filter(lead=lead).values("lender_id")
    return list(Lender.objects.filter(Q(pk__in=called) | Q(pk__in=asked)).order_by("name"))
