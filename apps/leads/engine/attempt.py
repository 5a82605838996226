"""One attempt at a lender's capability for a journey: claim the work, build the request, call,
store the answer or decide between a retry and failing the journey (see the package's
docstring for the whole path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from apps.leads.engine import rows
from apps.leads.engine.compare import lender_compare_dispatch
from apps.leads.engine.outcomes import Action, AttemptOutcome, MissingJourneyData
from apps.leads.engine.requests import lead_personal_values, prequalify_request_build, submit_request_build
from apps.leads.engine.results import (
    decision_store,
    lead_fail,
    pending_seconds_left,
    pending_timed_out,
    poll_schedule,
    submission_record,
)
from apps.leads.models import Decision, DecisionRequest, Lead, LeadStatus, Submission
from apps.leads.selectors import COMPARE_OPEN_STATUSES, lender_technical_failures_in_round
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import AdapterConfigurationError, DecisionResult, LenderAdapter, SubmissionResult
from apps.lenders.calls import CallFailed, CallRefused, lender_call_abandon, lender_call_open, lender_call_send
from apps.lenders.config import lender_polls, lender_submits, poll_countdown, retry_countdown
from apps.lenders.models import POSTBACK_SECRET_FIELDS, Lender, LenderCall
from prosperas.sql import instance_by_pk

Capability = LenderCall.Capability


@dataclass(frozen=True)
class Due:
    """What a claim found due: the lead (locked), and the compare-mode ask when there is one."""

    lead: Lead
    ask: DecisionRequest | None = None


@dataclass(frozen=True)
class NotDue:
    """Why an attempt has nothing to do."""

    reason: str


# A prequalify attempt that finds the lender's decision stored as pending asks about it instead.
POLL_INSTEAD = NotDue("the decision is pending: poll it")


@dataclass(frozen=True)
class Claim:
    call: LenderCall
    lead: Lead
    ask: DecisionRequest | None


DueCheck = Callable[[Lead, Lender, DecisionRequest | None], Due | NotDue]


def lender_prequalify_attempt(*, lead_id: int, lender_id: int | None = None) -> AttemptOutcome:
    """One attempt at the lender's decision for a journey waiting on it.

    Without a lender (a compare-mode journey, enqueued by the consumer's "try again"), it asks
    again every lender whose ask failed. A decision already stored as pending is asked about
    again (a poll), not requested twice.
    """
    if lender_id is None:
        return lender_compare_dispatch(lead_id=lead_id)
    outcome = _attempt(lead_id=lead_id, lender_id=lender_id, capability=Capability.PREQUALIFY, due=_prequalify_due)
    if outcome.action == Action.POLL_INSTEAD:
        return lender_poll_attempt(lead_id=lead_id, lender_id=lender_id)
    return outcome


def lender_poll_attempt(*, lead_id: int, lender_id: int) -> AttemptOutcome:
    """Ask the lender again about its pending decision; give up once it has timed out."""
    lender = Lender.objects.filter(pk=lender_id).first()
    if lender is None:
        return AttemptOutcome(Action.SKIPPED, detail="no such lender")
    decision = Decision.objects.filter(lead_id=lead_id, lender_id=lender_id).first()
    if decision is None or decision.outcome != Decision.Outcome.PENDING:
        return AttemptOutcome(Action.SKIPPED, detail="no pending decision")
    seconds_left = pending_seconds_left(lender, decision)
    if seconds_left <= 0:
        return pending_timed_out(lead_id, lender, decision)
    if not lender_polls(lender):
        # Only a callback can resolve it: look again when it would time out.
        return AttemptOutcome(Action.RETRY, countdown=seconds_left + 0.05, detail="waiting for the lender's callback")
    outcome = _attempt(lead_id=lead_id, lender_id=lender_id, capability=Capability.POLL, due=_poll_due)
    still_pending = outcome.action == Action.RECORDED and outcome.detail == Decision.Outcome.PENDING
    if not (still_pending or outcome.action == Action.RETRY):
        return outcome
    left = pending_seconds_left(lender, decision)
    countdown = poll_countdown(lender, left) if still_pending else min(outcome.countdown or 0, left)
    return AttemptOutcome(Action.RETRY, call_id=outcome.call_id, countdown=max(countdown, 0.05), detail=outcome.detail)


def lender_submit_attempt(*, lead_id: int) -> AttemptOutcome:
    """One attempt at submitting a journey's application to its lender."""
    lender = Lender.objects.filter(leads__pk=lead_id).first()
    if lender is None:
        return AttemptOutcome(Action.SKIPPED, detail="no such lead, or it has no lender")
    if not lender_submits(lender):
        return _submit_without_call(lead_id)
    return _attempt(lead_id=lead_id, lender_id=lender.pk, capability=Capability.SUBMIT, due=_submit_due)


# --- what is due ----------------------------------------------------------------------------


def _prequalify_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> Due | NotDue:
    stored = rows.decision_outcome(lead_id=lead.pk, lender_id=lender.pk)
    if stored == Decision.Outcome.PENDING:
        return POLL_INSTEAD
    if stored is not None:
        return NotDue("the lender's answer is already stored")
    if lead.compare_mode:
        if ask is None or ask.state != DecisionRequest.State.ASKED:
            return NotDue("this lender was not asked, or its ask has ended")
        if lead.status not in COMPARE_OPEN_STATUSES:
            return NotDue(f"the lead is {lead.status}")
        return Due(lead, ask)
    if lead.lender_id != lender.pk:
        return NotDue("the lead belongs to another lender")
    if lead.status != LeadStatus.AWAITING_DECISION:
        return NotDue(f"the lead is {lead.status}, not {LeadStatus.AWAITING_DECISION}")
    return Due(lead)


def _poll_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> Due | NotDue:
    if not Decision.objects.filter(lead_id=lead.pk, lender_id=lender.pk, outcome=Decision.Outcome.PENDING).exists():
        return NotDue("the decision is no longer pending")
    if lead.compare_mode:
        if ask is None or ask.state != DecisionRequest.State.ASKED or lead.status not in COMPARE_OPEN_STATUSES:
            return NotDue("this lender's ask has ended")
        return Due(lead, ask)
    if lead.status not in (LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING):
        return NotDue(f"the lead is {lead.status}")
    return Due(lead)


def _submit_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> Due | NotDue:
    if Submission.objects.filter(lead_id=lead.pk).exists():
        return NotDue("the lender's answer is already stored")
    if lead.status != LeadStatus.SUBMITTING:
        return NotDue(f"the lead is {lead.status}, not {LeadStatus.SUBMITTING}")
    return Due(lead)


# --- the attempt ----------------------------------------------------------------------------


def _attempt(*, lead_id: int, lender_id: int, capability: str, due: DueCheck) -> AttemptOutcome:
    lender = instance_by_pk(Lender, lender_id, exclude=POSTBACK_SECRET_FIELDS)
    if lender is None:
        return AttemptOutcome(Action.SKIPPED, detail="no such lender")
    claimed = _claim(lead_id=lead_id, lender=lender, capability=capability, due=due)
    if claimed is CallRefused.CIRCUIT_OPEN:
        message = f"{lender.name} is not answering right now (circuit open); no call was made."
        lead_fail(lead_id, lender_id, capability, message)
        return AttemptOutcome(Action.FAILED, detail=claimed.value)
    if isinstance(claimed, CallRefused):
        return AttemptOutcome(Action.SKIPPED, detail=claimed.value)
    if claimed is POLL_INSTEAD:
        return AttemptOutcome(Action.POLL_INSTEAD, detail=claimed.reason)
    if isinstance(claimed, NotDue):
        return AttemptOutcome(Action.SKIPPED, detail=claimed.reason)
    call, lead = claimed.call, claimed.lead
    personal: list[str] = []
    try:
        send, personal = _request(claimed, lender, capability)
    except (AdapterConfigurationError, MissingJourneyData) as exc:
        failure = lender_call_abandon(call=call, lender=lender, message=str(exc), personal=personal)
        return _failed(call, lender, lead_id, capability, failure)
    try:
        answer = lender_call_send(call=call, lender=lender, send=send, personal=personal)
    except CallFailed as failure:
        return _failed(call, lender, lead_id, capability, failure)
    if isinstance(answer, SubmissionResult):
        submission_record(lead_id=lead_id, result=answer)
        return AttemptOutcome(Action.RECORDED, call_id=call.pk, detail=str(LenderCall.Outcome.SUBMITTED))
    decision = decision_store(lead_id=lead.pk, lender=lender, result=answer)
    if decision.outcome == Decision.Outcome.PENDING and capability == Capability.PREQUALIFY:
        poll_schedule(lead_id, lender, decision)
    return AttemptOutcome(Action.RECORDED, call_id=call.pk, detail=decision.outcome)


def _claim(*, lead_id: int, lender: Lender, capability: str, due: DueCheck) -> Claim | NotDue | CallRefused:
    """Under a row lock: the claimed work with its new in-flight LenderCall, or why there is
    nothing to do.

    The lock is on the lead, or in compare mode on this lender's ask (DecisionRequest): the K
    lenders of one fan-out are claimed side by side, while two attempts at the same lender's
    work still queue behind each other."""
    with transaction.atomic():
        ask = rows.compare_ask_locked(lead_id=lead_id, lender_id=lender.pk) if capability != Capability.SUBMIT else None
        if ask is not None:
            lead = ask.lead
        else:
            journey = _journey_for(capability)
            lead = journey.filter(pk=lead_id).first()
            if lead is None:
                return NotDue("no such lead")
            if lead.compare_mode:
                ask = _ask_locked(lead_id, lender.pk)
            else:
                lead = journey.select_for_update(of=("self",), no_key=True).get(pk=lead_id)
        if lead.consent_revoked_at is not None:
            # The consumer revoked their consent: nothing more is sent for this journey
            # (apps/leads/revocation.py; read under the lock the revocation takes too).
            return NotDue("the consumer revoked their consent")
        found = due(lead, lender, ask)
        if isinstance(found, NotDue):
            return found
        call = lender_call_open(lender=lender, lead_id=lead_id, capability=capability, tracking_id=lead.tracking_id)
        if isinstance(call, CallRefused):
            return call
        return Claim(call, lead, found.ask)


# What a compare-mode attempt reads of its ask when the lead is read on its own.
ASK_FIELDS_READ = ("state", "lead_id", "lender_id", "campaign_id", "product__product_id", "listing__listing_id")
# What an attempt reads of the lead: one narrow query on the hot path (a compare fan-out makes
# a hundred of these at once), the chosen offer only for a submission.
JOURNEY_FIELDS_READ = (
    "tracking_id", "status", "compare_mode", "lender_id", "product__product_id", "listing__listing_id",
    "document_type", "document_number", "full_name", "email", "phone", "birth_date", "region", "monthly_income",
    "currency", "requested_amount", "lender_reference", "chosen_offer_id", "consent_revoked_at",
)


def _ask_locked(lead_id: int, lender_id: int) -> DecisionRequest | None:
    """A compare-mode ask, its row locked, with the catalog entry it was asked for (the lead
    already read)."""
    asks = DecisionRequest.objects.select_for_update(of=("self",)).filter(lead_id=lead_id, lender_id=lender_id)
    return asks.select_related("product", "listing").only(*ASK_FIELDS_READ).first()


def _journey_for(capability: str):
    if capability == Capability.SUBMIT:
        return Lead.objects.select_related("product", "listing", "chosen_offer")
    return Lead.objects.select_related("product", "listing").only(*JOURNEY_FIELDS_READ)


def _request(
    claim: Claim, lender: Lender, capability: str,
) -> tuple[Callable[[LenderAdapter], DecisionResult | SubmissionResult], list[str]]:
    """The adapter call this attempt makes, with the consumer's values to mask in what is stored."""
    lead, key = claim.lead, claim.call.idempotency_key
    if capability == Capability.PREQUALIFY:
        reads_extra = adapter_class(lender.adapter).reads_extra_data
        request = prequalify_request_build(lead, ask=claim.ask, extra_data=reads_extra, lender=lender)
        return (lambda adapter: adapter.prequalify(request, idempotency_key=key)), request.consumer.personal_values()
    if capability == Capability.POLL:
        reference = Decision.objects.filter(lead_id=lead.pk, lender_id=lender.pk).values_list(
            "lender_reference", flat=True).first() or ""
        return (lambda adapter: adapter.poll(lead.tracking_id, lender_reference=reference)), lead_personal_values(lead)
    request = submit_request_build(lead, lender=lender)
    return (lambda adapter: adapter.submit(request, idempotency_key=key)), request.consumer.personal_values()


def _failed(call: LenderCall, lender: Lender, lead_id: int, capability: str, failure: CallFailed) -> AttemptOutcome:
    """A permanent failure fails the journey; a technical one is retried while the lender's
    budget for this round lasts (a poll is not failed by its retries: the pending decision's
    timeout ends it)."""
    if not failure.technical:
        lead_fail(lead_id, lender.pk, capability, failure.message)
        return AttemptOutcome(Action.FAILED, call_id=call.pk, detail=failure.message)
    failures = lender_technical_failures_in_round(lead_id=lead_id, lender_id=lender.pk, capability=capability)
    if capability != Capability.POLL and failures > lender.max_retries:
        summary = f"No usable answer after {failures} attempts; last: {failure.message}"
        lead_fail(lead_id, lender.pk, capability, summary)
        return AttemptOutcome(Action.FAILED, call_id=call.pk, detail=summary)
    countdown = retry_countdown(failures, failure.retry_after)
    return AttemptOutcome(Action.RETRY, call_id=call.pk, countdown=countdown, detail=failure.message)


def _submit_without_call(lead_id: int) -> AttemptOutcome:
    """This lender has no submission call: the chosen offer's URL is the redirect (DESIGN §4)."""
    lead = Lead.objects.select_related("chosen_offer").get(pk=lead_id)
    if lead.status != LeadStatus.SUBMITTING or Submission.objects.filter(lead_id=lead_id).exists():
        return AttemptOutcome(Action.SKIPPED, detail=f"the lead is {lead.status}")
    offer = lead.chosen_offer
    if offer is None or not offer.url:
        lead_fail(lead_id, lead.lender_id, Capability.SUBMIT, "This lender has no submission call and the offer has no URL.")
        return AttemptOutcome(Action.FAILED, detail="no offer URL")
    result = SubmissionResult(status="offer_selected", redirect_url=offer.url, lender_reference=lead.lender_reference)
    submission_record(lead_id=lead_id, result=result)
    return AttemptOutcome(Action.RECORDED, detail="offer_selected")
