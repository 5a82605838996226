"""Reads about lender calls: attempt counts, the retry budget, work that is due."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from apps.leads.models import Lead, LeadEvent, LeadStatus
from apps.lenders.models import LenderCall

# The lead states in which a lender call is owed, and the capability that owes it.
WAITING_ON_LENDER = {
    LeadStatus.AWAITING_DECISION: LenderCall.Capability.PREQUALIFY,
    LeadStatus.SUBMITTING: LenderCall.Capability.SUBMIT,
}


def lender_calls_for(*, lead_id: int, lender_id: int, capability: str) -> QuerySet[LenderCall]:
    return LenderCall.objects.filter(lead_id=lead_id, lender_id=lender_id, capability=capability)


def lender_call_attempt_count(*, lead_id: int, lender_id: int, capability: str) -> int:
    """Every attempt ever made for this lead, lender and capability (numbers the next one)."""
    return lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).count()


def lender_round_started_at(*, lead_id: int) -> datetime | None:
    """When the current round of attempts began: the consumer's last "try again", if any.

    The retry budget (Lender.max_retries) is spent per round, so a consumer who retries after a
    technical failure gets a fresh set of attempts, while a task redelivered by the broker or
    re-enqueued by the sweep does not.
    """
    event = LeadEvent.objects.filter(lead_id=lead_id, kind=LeadEvent.Kind.RETRY).order_by("-created_at").first()
    return event.created_at if event else None


def lender_technical_failures_in_round(*, lead_id: int, lender_id: int, capability: str) -> int:
    calls = lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).filter(
        outcome=LenderCall.Outcome.TECHNICAL_FAILURE
    )
    started = lender_round_started_at(lead_id=lead_id)
    if started is not None:
        calls = calls.filter(started_at__gte=started)
    return calls.count()


def lender_calls_in_flight(
    *, lead_id: int, lender_id: int, capability: str, started_after: datetime
) -> QuerySet[LenderCall]:
    return lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).filter(
        outcome=LenderCall.Outcome.IN_FLIGHT, started_at__gt=started_after
    )


def leads_due_for_lender_work(*, stale_before: datetime, limit: int) -> list[Lead]:
    """Journeys waiting on a lender with no news since `stale_before`: their task was lost.

    "No news" means the lead has not moved and no call of any outcome started since then: a
    lead between two retries has a recent failed call and is left to its own retry.
    """
    recent_calls = LenderCall.objects.filter(lead=OuterRef("pk"), started_at__gte=stale_before)
    return list(
        Lead.objects.filter(status__in=list(WAITING_ON_LENDER), updated_at__lt=stale_before, lender__isnull=False)
        .exclude(Exists(recent_calls))
        .order_by("updated_at")
        .only("pk", "status", "lender_id")[:limit]
    )


def lender_calls_for_lead(*, lead_id: int) -> QuerySet[LenderCall]:
    """A lead's calls, oldest first, for its timeline."""
    return LenderCall.objects.filter(lead_id=lead_id).select_related("lender").order_by("started_at", "id")
