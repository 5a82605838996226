"""The two writes every change to a journey is made of: a conditional status move and an entry
on the journey's timeline. The journey's services (services.py) and the lender engine
(engine/) both build on them."""

from __future__ import annotations

from django.utils import timezone

from apps.leads.models import Lead, LeadEvent
from apps.leads.signals import lead_changed_on_commit


def lead_event_add(lead: Lead, kind: str, message: str = "") -> None:
    LeadEvent.objects.create(lead=lead, kind=kind, status=lead.status, message=message[:512])
    lead_changed_on_commit(lead)


def lead_move(lead: Lead, *, from_statuses: set[str], to: str, unless_revoked: bool = False, **fields) -> bool:
    """Conditional UPDATE: true when this call moved the lead, false when another got there first
    (or, with `unless_revoked`, when the consumer has revoked their consent)."""
    now = timezone.now()
    journey = Lead.objects.filter(pk=lead.pk, status__in=from_statuses)
    if unless_revoked:
        journey = journey.filter(consent_revoked_at__isnull=True)
    updated = journey.update(status=to, updated_at=now, **fields)
    if updated:
        lead.status = to
        lead.updated_at = now
        for name, value in fields.items():
            setattr(lead, name, value)
    return bool(updated)
