"""Seeing a consumer's personal data unmasked: its own permission (leads.reveal_personal_data,
the compliance role's), asked for one lead with a reason, granted for
settings.PERSONAL_DATA_REVEAL_MINUTES, and logged in the audit log (who, which lead, why, when,
until when). Without the permission nothing is granted; once the time is up the admin shows the
masked values again."""

from __future__ import annotations

from datetime import timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.leads.models import Lead, LeadEvent, PersonalDataReveal
from apps.leads.moves import lead_event_add

PERMISSION = "leads.reveal_personal_data"


class RevealRefused(Exception):
    """The reveal is not allowed: no permission, no reason, or no such lead."""


def lead_personal_data_reveal(*, lead_id: int, staff, reason: str) -> PersonalDataReveal:
    """Grant `staff` sight of the lead's personal data for a while; raises RevealRefused."""
    if not staff.has_perm(PERMISSION):
        raise RevealRefused("You may not see consumers' personal data unmasked.")
    reason = " ".join(reason.split())[:400]
    if len(reason) < 5:
        raise RevealRefused("Say why you need to see this consumer's personal data.")
    now = timezone.now()
    with transaction.atomic():
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None:
            raise RevealRefused("No such lead.")
        reveal = PersonalDataReveal.objects.create(
            lead=lead, staff=staff, reason=reason,
            expires_at=now + timedelta(minutes=settings.PERSONAL_DATA_REVEAL_MINUTES),
        )
        lead_event_add(lead, LeadEvent.Kind.STAFF, f"{staff.get_username()}: revealed the personal data — {reason}")
        LogEntry.objects.log_create(
            lead, force_log=True, action=LogEntry.Action.ACCESS, actor=staff,
            changes={"personal_data_revealed": [None, f"until {reveal.expires_at.isoformat()}"]},
            additional_data={"action": "reveal", "reason": reason, "expires_at": reveal.expires_at.isoformat()},
        )
    return reveal


def reveal_active(*, lead_id: int, staff) -> PersonalDataReveal | None:
    """The staff user's reveal of this lead still running, if any (and only while they still hold
    the permission: withdrawing it ends every reveal at once)."""
    if not staff.has_perm(PERMISSION):
        return None
    return (PersonalDataReveal.objects.filter(lead_id=lead_id, staff=staff, expires_at__gt=timezone.now())
            .order_by("-expires_at").first())
