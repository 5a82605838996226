"""The one-time link in a result email that reopens the journey in whatever browser opens it.

The journey's pages open only in the browser session that started the journey (apps/flow), and
the consumer who chose to leave a slow wait often reads the email somewhere else: a mail app, a
computer, or outside the carrier's webview the journey ran in. The status link in the email opens
anywhere but only shows the status; this link lets the consumer go on to choose an offer.

What the URL carries is a random token (256 bits) and nothing else: no lead id, tracking ID or
personal data. Only the token's SHA-256 is stored, so a leaked database does not yield working
links. A link works once (claimed under its row's lock, so two taps at once use it once),
for settings.FLOW_RESUME_LINK_HOURS, and only while the journey has something left for the
consumer to do; a forwarded email cannot be replayed. Each use is on the lead's timeline.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.leads.models import Lead, LeadEvent, ResumeLink
from apps.leads.selectors import journey_has_ended


class ResumeRefusal(enum.StrEnum):
    UNKNOWN = "unknown"  # no such link (mistyped, or the journey's data was deleted)
    USED = "used"  # opened before: each link works once
    EXPIRED = "expired"  # older than FLOW_RESUME_LINK_HOURS
    ENDED = "ended"  # the journey has nothing left to continue
    REVOKED = "revoked"  # the consumer revoked their consent: the journey goes no further


@dataclass(frozen=True)
class ResumeCheck:
    """What a link leads to: the lead (None when unknown) and, when it cannot be used, why."""

    lead: Lead | None
    refusal: ResumeRefusal | None = None
    expires_at: datetime | None = None

    @property
    def usable(self) -> bool:
        return self.refusal is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resume_link_create(*, lead: Lead) -> str:
    """A new link token for `lead`, valid FLOW_RESUME_LINK_HOURS; only its digest is stored. Each
    email gets its own, so a resent email carries a fresh link."""
    token = secrets.token_urlsafe(32)
    ResumeLink.objects.create(lead=lead, token_digest=_digest(token),
                              expires_at=timezone.now() + timedelta(hours=settings.FLOW_RESUME_LINK_HOURS))
    return token


def resume_link_check(*, token: str) -> ResumeCheck:
    """Whether the link can be used now, changing nothing: what its page shows before the consumer
    confirms (mail scanners and link previews open links, and must not use them up)."""
    link = (ResumeLink.objects.select_related("lead__origin", "lead__lender", "lead__listing")
            .filter(token_digest=_digest(token)).first())
    if link is None:
        return ResumeCheck(lead=None, refusal=ResumeRefusal.UNKNOWN)
    return ResumeCheck(lead=link.lead, refusal=_refusal(link), expires_at=link.expires_at)


def _refusal(link: ResumeLink) -> ResumeRefusal | None:
    if link.used_at is not None:
        return ResumeRefusal.USED
    if link.expires_at <= timezone.now():
        return ResumeRefusal.EXPIRED
    if link.lead.consent_revoked_at is not None:
        return ResumeRefusal.REVOKED
    if journey_has_ended(link.lead):
        return ResumeRefusal.ENDED
    return None


def resume_link_use(*, token: str) -> ResumeCheck:
    """Use the link: once, unexpired, for a journey still going on. On success the caller binds
    the journey to the browser's session; the use is on the lead's timeline. On refusal nothing
    changes and the check says why."""
    with transaction.atomic():
        link = ResumeLink.objects.select_for_update().filter(token_digest=_digest(token)).first()
        if link is None:
            return ResumeCheck(lead=None, refusal=ResumeRefusal.UNKNOWN)
        link.lead = Lead.objects.get(pk=link.lead_id)  # as it is now: its status decides
        refusal = _refusal(link)
        if refusal is not None:
            return ResumeCheck(lead=link.lead, refusal=refusal, expires_at=link.expires_at)
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        LeadEvent.objects.create(lead=link.lead, kind=LeadEvent.Kind.RESUMED, status=link.lead.status)
    return ResumeCheck(lead=link.lead, expires_at=link.expires_at)
