"""What staff can do to a journey, from its admin page: each a service that checks the lead's
state under its row lock, refuses in plain words when the state does not allow it, and records
itself on the lead's timeline (a "staff" event naming who and why) and in the audit log.

Permissions are the Lead model's own (Meta.permissions: retry_lead, poll_lead, cancel_lead,
notify_lead, review_lead); the admin checks them before calling. Retrying reuses the journey's
tracking ID and its idempotency key, exactly as the consumer's "try again" does.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditlog.models import LogEntry
from django.db import transaction

from apps.leads.enqueue import poll_enqueue, prequalify_enqueue, submit_enqueue
from apps.leads.models import Decision, Lead, LeadEvent, LeadNotification, LeadStatus
from apps.leads.moves import lead_event_add, lead_move
from apps.leads.notifications import lead_status_notify_enqueue
from apps.leads.services import RETRYABLE

# Statuses a lead can be cancelled from: before the lender has it, or while it is with the
# lender and nothing final was reported (a disbursed or rejected lead stays as it is).
CANCELLABLE = {
    LeadStatus.NEW, LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED,
    LeadStatus.NOT_ELIGIBLE, LeadStatus.DECISION_FAILED, LeadStatus.SUBMITTING, LeadStatus.SUBMISSION_FAILED,
    LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF, LeadStatus.PRE_APPROVED, LeadStatus.APPROVED,
}


class LeadActionRefused(Exception):
    """The lead's state does not allow the action; the message says why, for staff."""


@dataclass(frozen=True)
class StaffAction:
    name: str
    permission: str  # the Lead permission's codename
    label: str
    needs_text: bool = False  # a reason or a note is required


ACTIONS = {
    action.name: action for action in [
        StaffAction("retry", "retry_lead", "Retry the failed lender call"),
        StaffAction("poll", "poll_lead", "Ask the lender about its pending decision now"),
        StaffAction("cancel", "cancel_lead", "Cancel the lead", needs_text=True),
        StaffAction("notify", "notify_lead", "Resend the consumer's last email"),
        StaffAction("review", "review_lead", "Mark reviewed", needs_text=True),
        StaffAction("note", "review_lead", "Add a note", needs_text=True),
    ]
}


def lead_staff_act(*, lead_id: int, action: str, staff, text: str = "") -> str:
    """Run one staff action on a lead; returns what was done, in a sentence for staff. Raises
    LeadActionRefused when the lead's state does not allow it (nothing is written then)."""
    chosen = ACTIONS[action]
    text = " ".join(text.split())[:400]
    if chosen.needs_text and not text:
        raise LeadActionRefused(f"{chosen.label}: say why (a reason or a note is required).")
    with transaction.atomic():
        lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()
        if lead is None:
            raise LeadActionRefused("No such lead.")
        done = HANDLERS[action](lead, text)
        lead_event_add(lead, LeadEvent.Kind.STAFF, f"{staff.get_username()}: {done}" + (f" — {text}" if text else ""))
        LogEntry.objects.log_create(lead, force_log=True, action=LogEntry.Action.UPDATE, actor=staff,
                                    changes={"staff_action": [None, action], "detail": [None, done]},
                                    additional_data={"action": action, "text": text})
    return done


def _retry(lead: Lead, text: str) -> str:
    target = RETRYABLE.get(lead.status)
    if target is None:
        raise LeadActionRefused(f"Only a failed decision or submission can be retried; this lead is "
                                f"{lead.get_status_display().lower()}.")
    if lead.compare_mode and lead.status == LeadStatus.DECISION_FAILED:
        # The lenders whose ask failed are asked again, as the consumer's "try again" does.
        lead_move(lead, from_statuses={lead.status}, to=target)
        prequalify_enqueue(lead_id=lead.pk, lender_id=None)
        return "asked again every lender whose answer failed"
    lead_move(lead, from_statuses={lead.status}, to=target)
    if target == LeadStatus.AWAITING_DECISION:
        prequalify_enqueue(lead_id=lead.pk, lender_id=lead.lender_id)
        return "asked the lender for its decision again (same tracking ID)"
    submit_enqueue(lead_id=lead.pk)
    return "sent the application to the lender again (same tracking ID)"


def _poll(lead: Lead, text: str) -> str:
    pending = list(Decision.objects.filter(lead=lead, outcome=Decision.Outcome.PENDING).values_list("lender_id", flat=True))
    if not pending:
        raise LeadActionRefused("No lender's decision is pending on this lead.")
    for lender_id in pending:
        poll_enqueue(lead_id=lead.pk, lender_id=lender_id, countdown=0)
    return f"asked {len(pending)} lender(s) about the pending decision"


def _cancel(lead: Lead, text: str) -> str:
    if lead.status not in CANCELLABLE:
        raise LeadActionRefused(f"A lead that is {lead.get_status_display().lower()} cannot be cancelled.")
    lead_move(lead, from_statuses={lead.status}, to=LeadStatus.CANCELLED)
    return "cancelled the lead"


def _notify(lead: Lead, text: str) -> str:
    last = LeadNotification.objects.filter(lead=lead).order_by("-created_at", "-id").first()
    if last is None:
        raise LeadActionRefused("The consumer was never emailed about this lead.")
    LeadNotification.objects.filter(pk=last.pk).update(state=LeadNotification.State.PENDING, error="", sent_at=None)
    transaction.on_commit(lambda: lead_status_notify_enqueue(lead_id=lead.pk, status=last.lead_status))
    return f"resent the consumer's email about {last.lead_status}"


def _review(lead: Lead, text: str) -> str:
    Lead.objects.filter(pk=lead.pk).update(needs_review=False)
    return "marked reviewed"


def _note(lead: Lead, text: str) -> str:
    return "added a note"


HANDLERS = {"retry": _retry, "poll": _poll, "cancel": _cancel, "notify": _notify, "review": _review, "note": _note}
