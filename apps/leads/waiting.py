"""Honest waiting: how a journey's wait for its lender's decision is going, in words the waiting
page can tell the consumer as it happens, and the consumer's choice to leave and be emailed the
decision instead.

The stage of a wait is read from what the engine records (apps/leads/engine/): the round of
attempts starts at the identity step or at the consumer's last "try again", and every attempt
is a LenderCall row, so the first technical failure of the round is a fact in the database the
moment the engine completes that call. Nothing here is kept in the browser or the broker.

The email goes through the journey's notifications (apps/leads/notifications.py): a
LeadNotification row for the decision's status, created in the transaction that stores the
decision (or, when the decision came first, in the one that records the choice), and sent by a
task that takes ids only.
"""

from __future__ import annotations

import enum
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.leads.models import Lead, LeadEvent, LeadStatus
from apps.leads.notifications import DECISION_STATUSES, lead_notification_prepare, lead_status_notify_enqueue
from apps.leads.selectors import lender_round_started_at
from apps.lenders.models import LenderCall

# The statuses in which the consumer waits on a lender's decision.
DECISION_WAITING = frozenset({LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING})


class WaitStage(enum.StrEnum):
    USUAL = "usual"  # within the seconds such a decision usually takes
    SLOW = "slow"  # longer than usual (settings.FLOW_SLOW_AFTER_SECONDS), nothing failed yet
    RETRYING = "retrying"  # at least one attempt failed (technical failure) and the engine retries


def wait_round_started_at(lead: Lead) -> datetime | None:
    """When the consumer began waiting on the lenders this round: the identity step, or their
    last "try again"."""
    moments = [moment for moment in (lead.identity_at, lender_round_started_at(lead_id=lead.pk)) if moment]
    return max(moments, default=None)


def journey_wait_stage(lead: Lead, *, now: datetime | None = None) -> str:
    """The wait's stage (WaitStage) while the journey waits on a decision; "" otherwise. Two
    small queries: the round's start and whether a call of this round failed."""
    if lead.status not in DECISION_WAITING:
        return ""
    started = wait_round_started_at(lead)
    failed = LenderCall.objects.filter(
        lead_id=lead.pk, outcome=LenderCall.Outcome.TECHNICAL_FAILURE,
        capability__in=(LenderCall.Capability.PREQUALIFY, LenderCall.Capability.POLL),
    )
    if started is not None:
        failed = failed.filter(started_at__gte=started)
    if failed.exists():
        return WaitStage.RETRYING
    elapsed = ((now or timezone.now()) - started).total_seconds() if started else 0
    return WaitStage.SLOW if elapsed >= settings.FLOW_SLOW_AFTER_SECONDS else WaitStage.USUAL


class ResultEmailRefused(Exception):
    """The journey is past the decision: there is no decision left to email."""


def journey_result_email_request(*, lead: Lead, email: str) -> bool:
    """Record that the consumer leaves the waiting page and wants the decision by email, at
    `email` (kept encrypted on the lead, where the details step would put it too). Repeats are
    harmless: the first choice's time stands, the address is the latest given. When the
    decision has already arrived, its email is due at once. True when an email is now due."""
    with transaction.atomic():
        locked = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)
        if locked.status not in DECISION_WAITING | DECISION_STATUSES:
            raise ResultEmailRefused(locked.status)
        first = locked.result_email_requested_at is None
        locked.email = email
        locked.result_email_requested_at = locked.result_email_requested_at or timezone.now()
        locked.save(update_fields=["email", "result_email_requested_at", "updated_at"])
        if first:
            LeadEvent.objects.create(lead=locked, kind=LeadEvent.Kind.RESULT_EMAIL, status=locked.status)
        due = journey_result_email_due(locked.pk)
    lead.email, lead.result_email_requested_at = locked.email, locked.result_email_requested_at
    return due


def journey_result_email_due(lead_id: int) -> bool:
    """Inside the transaction that moved the journey to a decision (or recorded the consumer's
    choice): when the consumer asked to be emailed and the journey now has its decision, record
    the notification and send it once the transaction commits. True when one is due. One
    primary-key query when nothing is due."""
    lead = (Lead.objects.filter(pk=lead_id, status__in=DECISION_STATUSES, result_email_requested_at__isnull=False)
            .only("id", "status", "email", "language", "result_email_requested_at").first())
    if lead is None or not lead_notification_prepare(lead=lead, status=lead.status):
        return False
    status = lead.status
    transaction.on_commit(lambda: lead_status_notify_enqueue(lead_id=lead_id, status=status))
    return True
