"""Storing what lenders answered on the journey: a decision (with its rejection reason and its
offers' terms), a submission, or a failure; and the timing of pending decisions."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.leads.engine import rows
from apps.leads.engine.outcomes import Action, AttemptOutcome
from apps.leads.enqueue import poll_enqueue
from apps.leads.models import Decision, DecisionReason, DecisionRequest, Lead, LeadEvent, LeadStatus, Offer, OfferTerms, Submission
from apps.leads.moves import lead_event_add, lead_move
from apps.leads.notifications import DECISION_STATUSES
from apps.leads.waiting import journey_result_email_due
from apps.leads.selectors import compare_status, lender_round_started_at
from apps.lenders.adapters.base import DecisionResult, SubmissionResult
from apps.lenders.config import poll_countdown
from apps.lenders.models import Lender, LenderCall
from apps.lenders.selectors import rejection_classify
from prosperas.sql import datetime_param

Capability = LenderCall.Capability


@transaction.atomic(savepoint=False)
def decision_record(
    *, lead_id: int, lender_id: int, result: DecisionResult, lender_code: str | None = None
) -> Decision:
    """Store a lender's decision. A final decision already stored for this lead and lender wins;
    a pending one is resolved in place by the final answer that follows it (a poll or the
    lender's callback), so a lead keeps one Decision per lender.

    A single-lender journey moves by this decision. In compare mode every asked lender's answer
    counts (apps.leads.selectors.compare_status: offered as soon as one approves with offers);
    the row lock on the lead, taken once the decision is stored, makes two lenders answering at
    once see each other's decision. `lender_code` names the lender in the journey's events (the
    engine passes it; it is looked up otherwise).

    In a compare fan-out a hundred of these run at once in the worker's one process, so each
    is a few statements: the decision row first (an insert that does nothing when this lender's
    decision is already stored, so a duplicate costs no error and no savepoint; an answer that
    resolves a pending one locks that row, so two resolving answers queue and the first wins),
    then the lead, read and locked once, held briefly. No savepoint of its own: in the engine's
    transaction (decision_store) any error rolls everything back.
    """
    decision = _decision_insert(lead_id=lead_id, lender_id=lender_id, result=result)
    if decision is None:
        decision = Decision.objects.select_for_update().get(lead_id=lead_id, lender_id=lender_id)
        if decision.outcome != Decision.Outcome.PENDING or result.decision == Decision.Outcome.PENDING:
            return _decision_repeat(decision)
        decision.outcome = str(result.decision)
        decision.reason = result.reason[:512]
        decision.lender_reference = result.lender_reference[:128] or decision.lender_reference
        decision.save(update_fields=["outcome", "reason", "lender_reference", "updated_at"])
    Offer.objects.bulk_create(
        Offer(
            decision=decision, lender_offer_id=offer.lender_offer_id, amount=offer.amount,
            term_months=offer.term_months, monthly_payment=offer.monthly_payment,
            annual_rate=offer.annual_rate, currency=offer.currency, url=offer.url,
        )
        for offer in result.offers
    )
    lead = rows.lead_locked(lead_id=lead_id)
    message = f"{decision.outcome} {decision.reason}".strip()
    if lead.compare_mode:
        code = lender_code if lender_code is not None else _lender_code(lender_id)
        if decision.outcome != Decision.Outcome.APPROVED or not result.offers:
            _compare_decision_apply(lead, f"{code}: {message}")
        elif lead.status in COMPARE_WAITING:  # offers exist now: compare_status says offered, no need to ask it
            rows.lead_offered_with_event(lead, message=f"{code}: {message}")
        else:  # already offered, or the consumer has gone on
            lead_event_add(lead, LeadEvent.Kind.DECISION, f"{code}: {message}")
        _result_email_if_asked(lead)
        return decision
    target = {
        Decision.Outcome.APPROVED: LeadStatus.OFFERED if result.offers else LeadStatus.NOT_ELIGIBLE,
        Decision.Outcome.REJECTED: LeadStatus.NOT_ELIGIBLE,
        Decision.Outcome.PENDING: LeadStatus.DECISION_PENDING,
    }[decision.outcome]
    waiting = {LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.DECISION_FAILED}
    if lead_move(lead, from_statuses=waiting, to=target, decided_at=timezone.now(),
             lender_reference=decision.lender_reference or lead.lender_reference):
        lead_event_add(lead, LeadEvent.Kind.DECISION, message)
        _result_email_if_asked(lead)
    return decision


def _result_email_if_asked(lead: Lead) -> None:
    """The consumer who left the waiting page asking for an email gets the decision (waiting.py)."""
    if lead.status not in DECISION_STATUSES:
        return
    # The locked read (rows.lead_locked) says whether they asked: most never do, and then nothing is read.
    if "result_email_requested_at" not in lead.get_deferred_fields() and lead.result_email_requested_at is None:
        return
    journey_result_email_due(lead.pk)


def _decision_insert(*, lead_id: int, lender_id: int, result: DecisionResult) -> Decision | None:
    """The new Decision, or None when this lead has one from this lender already.

    INSERT ... ON CONFLICT DO NOTHING on the (lead, lender) unique constraint: a duplicate or
    retried task racing this one waits for it and then inserts nothing, with no error to
    recover from (the ORM's create would need a savepoint around it for that).
    """
    now = timezone.now()
    decision = Decision(lead_id=lead_id, lender_id=lender_id, outcome=str(result.decision),
                        reason=result.reason[:512], lender_reference=result.lender_reference[:128],
                        created_at=now, updated_at=now)
    stamp = datetime_param(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(Decision._meta.db_table)}"
            " (lead_id, lender_id, outcome, reason, lender_reference, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (lead_id, lender_id) DO NOTHING RETURNING id",
            [lead_id, lender_id, decision.outcome, decision.reason, decision.lender_reference, stamp, stamp],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    decision.pk = row[0]
    decision._state.adding = False
    return decision


def _decision_repeat(decision: Decision) -> Decision:
    """A repeat: the first answer stands. A pending one asked about again after the consumer's
    "try again" puts a single-lender journey back to waiting on it."""
    if decision.outcome == Decision.Outcome.PENDING:
        lead = Lead.objects.only("status", "compare_mode").get(pk=decision.lead_id)
        if not lead.compare_mode:
            lead_move(lead, from_statuses={LeadStatus.AWAITING_DECISION}, to=LeadStatus.DECISION_PENDING)
    return decision


# A compare-mode journey's statuses that its lenders' answers still move.
COMPARE_WAITING = {LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.DECISION_FAILED,
                   LeadStatus.NOT_ELIGIBLE}


def _compare_decision_apply(lead: Lead, message: str) -> None:
    """The journey's status from every asked lender's answer so far; the caller holds its lock."""
    target = compare_status(lead_id=lead.pk)
    if target != lead.status:
        lead_move(lead, from_statuses=COMPARE_WAITING, to=target, decided_at=timezone.now())
    lead_event_add(lead, LeadEvent.Kind.DECISION, message)


def _lender_code(lender_id: int) -> str | None:
    return Lender.objects.filter(pk=lender_id).values_list("code", flat=True).first()


@transaction.atomic
def decision_fail(*, lead_id: int, message: str, lender_id: int | None = None) -> bool:
    """A lender gave no usable decision: a technical or permanent failure, or none in time.

    A single-lender journey fails (the consumer may try again; never "not eligible"). In compare
    mode the engine has marked that lender's ask failed first, and the journey's status follows
    every asked lender (apps.leads.selectors.compare_status): it is decision_failed only when
    no lender approved and none is still pending.
    """
    lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    if lead.compare_mode:
        target = compare_status(lead_id=lead_id)
        moved = target != lead.status and lead_move(
            lead, from_statuses={LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING}, to=target
        )
        code = lead.decision_requests.filter(lender_id=lender_id).values_list("lender__code", flat=True).first()
        lead_event_add(lead, LeadEvent.Kind.DECISION_FAILED, f"{code or lender_id}: {message}")
        if moved:
            _result_email_if_asked(lead)
        return moved
    moved = lead_move(lead, from_statuses={LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING}, to=LeadStatus.DECISION_FAILED)
    if moved:
        lead_event_add(lead, LeadEvent.Kind.DECISION_FAILED, message)
        _result_email_if_asked(lead)
    return moved


@transaction.atomic
def decision_store(*, lead_id: int, lender: Lender, result: DecisionResult) -> Decision:
    """Hand a decision to the lead (decision_record) and, in the same transaction, keep what the Decision row has no column for: the rejection's category and
    notice, the offers' APR, fee and amount group. Whoever sees the decision sees them too."""
    decision = decision_record(lead_id=lead_id, lender_id=lender.pk, result=result, lender_code=lender.code)
    if decision.outcome != str(result.decision):
        return decision  # an earlier answer was kept; its extras were stored with it.
    if decision.outcome == Decision.Outcome.REJECTED:
        category = result.reason_category or rejection_classify(f"{result.reason_code} {result.reason} {result.reason_text}")
        DecisionReason.objects.get_or_create(decision=decision, defaults={
            "category": category, "lender_code": result.reason_code[:128],
            "lender_text": (result.reason_text or result.reason)[:512], "notice_html": result.notice_html,
        })
    extras = {offer.lender_offer_id: offer for offer in result.offers if offer.apr is not None
              or offer.origination_fee is not None or offer.amount_group}
    if extras:
        offers = Offer.objects.filter(decision=decision, lender_offer_id__in=list(extras)).exclude(terms__isnull=False)
        OfferTerms.objects.bulk_create(
            OfferTerms(offer=row, apr=extras[row.lender_offer_id].apr, origination_fee=extras[row.lender_offer_id].origination_fee,
                       amount_group=extras[row.lender_offer_id].amount_group)
            for row in offers
        )
    return decision


def poll_schedule(lead_id: int, lender: Lender, decision: Decision) -> None:
    countdown = poll_countdown(lender, pending_seconds_left(lender, decision))
    poll_enqueue(lead_id=lead_id, lender_id=lender.pk, countdown=countdown)


def pending_seconds_left(lender: Lender, decision: Decision) -> float:
    """A pending decision times out `pending_timeout_seconds` after it was first stored or
    after the consumer's last "try again", whichever is later."""
    waiting_since = decision.created_at
    round_started = lender_round_started_at(lead_id=decision.lead_id)
    if round_started is not None and round_started > waiting_since:
        waiting_since = round_started
    deadline = waiting_since + timedelta(seconds=lender.pending_timeout_seconds)
    return (deadline - timezone.now()).total_seconds()


def pending_timed_out(lead_id: int, lender: Lender, decision: Decision) -> AttemptOutcome:
    message = f"No final decision within {lender.pending_timeout_seconds} s (timed out)."
    lead_fail(lead_id, lender.pk, Capability.PREQUALIFY, message)
    return AttemptOutcome(Action.FAILED, detail="timed out")


@transaction.atomic
def submission_record(*, lead_id: int, result: SubmissionResult) -> Submission:
    """Store the lender's answer to the submission. If one is already stored, it wins."""
    lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    existing = Submission.objects.filter(lead=lead).first()
    if existing is not None:
        return existing
    submission = Submission.objects.create(
        lead=lead, lender_id=lead.lender_id, status=result.status[:40],
        redirect_url=result.redirect_url, lender_reference=result.lender_reference[:128],
    )
    fields = {"redirect_url": result.redirect_url, "submitted_at": timezone.now()}
    if result.lender_reference:
        fields["lender_reference"] = result.lender_reference[:128]
    if lead_move(lead, from_statuses={LeadStatus.SUBMITTING, LeadStatus.SUBMISSION_FAILED}, to=LeadStatus.SUBMITTED, **fields):
        lead_event_add(lead, LeadEvent.Kind.SUBMITTED, result.status)
    return submission


@transaction.atomic
def submission_fail(*, lead_id: int, message: str) -> bool:
    lead = Lead.objects.get(pk=lead_id)
    moved = lead_move(lead, from_statuses={LeadStatus.SUBMITTING}, to=LeadStatus.SUBMISSION_FAILED)
    if moved:
        lead_event_add(lead, LeadEvent.Kind.SUBMISSION_FAILED, message)
    return moved


def lead_fail(lead_id: int, lender_id: int | None, capability: str, message: str) -> None:
    if capability == Capability.SUBMIT:
        submission_fail(lead_id=lead_id, message=message)
        return
    with transaction.atomic():
        DecisionRequest.objects.filter(lead_id=lead_id, lender_id=lender_id).update(
            state=DecisionRequest.State.FAILED, failure=message[:512], updated_at=timezone.now(),
        )
        decision_fail(lead_id=lead_id, lender_id=lender_id, message=message)
