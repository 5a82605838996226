"""The lender call engine: one attempt at one capability, recorded before and after the call.

Tasks call `lender_prequalify_attempt` / `lender_poll_attempt` / `lender_submit_attempt` and do
what the returned `AttemptOutcome` says (retry after `countdown`, or stop). The same functions
can be called directly, without Celery. An attempt:

1. claims the work under a row lock on the lead: nothing to do if the result is already stored
   (a redelivered or retried task never stores a second one), if the lead is no longer waiting
   on this lender, or if another attempt is in flight; a lender whose circuit is open is not
   called at all (the journey fails at once: no consumer waits on a dead API); otherwise it
   creates the LenderCall row (in flight) before any HTTP is sent;
2. builds the frozen request from the lead (consumer data decrypted here, never put in a task);
3. gives its database connection back, then calls the adapter, which has a hard deadline
   (apps/lenders/http.py): a worker thread waiting seconds on a lender holds no connection, so
   a pool of a hundred threads does not need a hundred PostgreSQL connections (apps/lenders/db.py);
4. completes the LenderCall row (duration, status, outcome, masked and truncated bodies), feeds
   the lender's circuit breaker, and hands the result to apps.leads.services, or decides between
   a retry and failing the lead.

A `pending` decision is resolved by the lender's callback (`lender_callback_receive`) or by
polling (`lender_poll_attempt`, scheduled after each pending answer), and given up once the
lender's `pending_timeout_seconds` have passed. Compare mode asks many lenders at once
(`lender_decisions_request`); each decision is stored as it arrives.

The retry budget is counted in the database (technical failures since the consumer's last
"try again"), not in the broker's message, so a task re-enqueued by the sweep cannot reset it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.campaigns.selectors import RuleFailure
from apps.leads import services as lead_services
from apps.leads.models import Decision, Lead, LeadStatus, Submission
from apps.leads.models import Offer as OfferRow
from apps.lenders import rows, selectors
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import (
    JOURNEY_FIELDS,
    AdapterConfigurationError,
    AdapterError,
    CallbackResult,
    Consumer,
    DecisionResult,
    LenderAdapter,
    LenderConfig,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    SubmissionResult,
    SubmitRequest,
    TechnicalFailure,
)
from apps.lenders.db import waiting_on_lender
from apps.lenders.http import CONNECT_TIMEOUT_SECONDS, Exchange, effective_timeout
from apps.lenders.masking import mask_and_truncate, mask_text, mask_values, truncate
from apps.leads.models import DecisionReason, DecisionRequest, LeadExtraData, OfferTerms
from apps.lenders.models import CircuitState, Lender, LenderCall, MappedApi

logger = logging.getLogger(__name__)

# A 429's Retry-After is honoured up to this; beyond it the lender is effectively down for this
# journey, and a countdown longer than the broker's visibility timeout would be redelivered.
RETRY_AFTER_LIMIT_SECONDS = 600.0
# An in-flight call older than its deadline plus this margin belongs to a worker that died.
IN_FLIGHT_GRACE_SECONDS = 10.0
SWEEP_BATCH = 500

Capability = LenderCall.Capability
# Lead columns an adapter's declared JOURNEY_FIELDS are read from; the others live in LeadExtraData.
LEAD_COLUMNS = ("email", "phone", "birth_date", "region", "requested_amount")


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass(frozen=True)
class AttemptOutcome:
    """What an attempt did, and what the caller should do next.

    action: "recorded" (a result was stored), "failed" (the lead was failed: permanent failure,
    configuration error, open circuit, no answer in time, or the retry budget is spent),
    "retry" (try again after `countdown` seconds: a technical failure, or a decision still
    pending), "skipped" (nothing to do; `detail` says why).
    """

    action: Literal["recorded", "failed", "retry", "skipped"]
    call_id: int | None = None
    countdown: float | None = None
    detail: str = ""

    @property
    def should_retry(self) -> bool:
        return self.action == "retry"


class MissingJourneyData(Exception):
    """The lead lacks what the request needs (no identity, no chosen offer): not worth a retry."""


@dataclass(frozen=True)
class _Due:
    """What a claim found: the lead (locked), and the compare-mode ask when there is one."""

    lead: Lead
    ask: DecisionRequest | None = None


class _CircuitOpen(str):
    """A claim's answer when the lender's circuit is open: fail the journey without a call."""


# --- configuration and keys -----------------------------------------------------------------


def lender_callback_url(lender: Lender) -> str:
    """Our URL this lender calls back on: its unguessable token is the authentication."""
    try:
        path = reverse("lenders:callback", args=[lender.callback_token])
    except NoReverseMatch:  # the lenders URLs are not mounted: the path they are documented at
        path = f"/api/v1/lenders/callbacks/{lender.callback_token}"
    return f"{settings.SITE_URL}{path}"


def lender_config_for(lender: Lender) -> LenderConfig:
    options: dict[str, Any] = {}
    if lender.adapter == "mapped_json":
        mapped = MappedApi.objects.filter(lender_id=lender.pk).first()
        options = mapped.as_options() if mapped is not None else {}
    return LenderConfig(
        code=lender.code,
        base_url=lender.base_url,
        timeout_seconds=float(lender.timeout_seconds),
        credentials=dict(lender.credentials or {}),
        environment=lender.environment,
        options=options,
    )


def adapter_for(lender: Lender) -> LenderAdapter:
    return adapter_class(lender.adapter)(lender_config_for(lender))


def idempotency_key(tracking_id: str, capability: str) -> str:
    """The same on every retry of one capability for one journey: the lender deduplicates by it."""
    return hashlib.sha256(f"{tracking_id}:{capability}".encode()).hexdigest()


def retry_countdown(failures: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds before retry number `failures`: exponential, capped, jittered, with a floor.

    "Equal jitter": half of the exponential step is fixed and half is random, so two journeys
    failing together spread out, yet no retry is ever near-immediate (full jitter can draw 0 s,
    STACK-NOTES.md). A larger Retry-After from the lender wins, up to RETRY_AFTER_LIMIT_SECONDS.
    """
    base = settings.LENDER_RETRY_BACKOFF_SECONDS
    cap = max(settings.LENDER_RETRY_BACKOFF_MAX_SECONDS, base)
    step = min(cap, base * 2 ** max(failures - 1, 0))
    delay = step / 2 + (rng or random).uniform(0, step / 2)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, RETRY_AFTER_LIMIT_SECONDS)
    return delay


def poll_countdown(adapter_cls: type[LenderAdapter], seconds_left: float) -> float:
    """When to ask again about a pending decision: the adapter's interval (capped in tests by
    LENDER_POLL_INTERVAL_CAP_SECONDS), never past the moment the decision times out."""
    interval = adapter_cls.poll_interval_seconds
    cap = _setting("LENDER_POLL_INTERVAL_CAP_SECONDS", 0.3 if settings.TESTING else None)
    if cap:
        interval = min(interval, cap)
    return max(0.05, min(interval, seconds_left + 0.05))


# --- the capabilities -----------------------------------------------------------------------


def lender_prequalify_attempt(*, lead_id: int, lender_id: int | None = None) -> AttemptOutcome:
    """One attempt at the lender's decision for a journey waiting on it.

    Without a lender (a compare-mode journey, enqueued by the consumer's "try again"), it asks
    again every lender whose ask failed (`lender_compare_dispatch`). A decision already stored
    as pending is asked about again (a poll), not requested twice.
    """
    if lender_id is None:
        return lender_compare_dispatch(lead_id=lead_id)
    outcome = _attempt(lead_id=lead_id, lender_id=lender_id, capability=Capability.PREQUALIFY, due=_prequalify_due)
    if outcome.action == "skipped" and outcome.detail == POLL_INSTEAD:
        return lender_poll_attempt(lead_id=lead_id, lender_id=lender_id)
    return outcome


def lender_poll_attempt(*, lead_id: int, lender_id: int) -> AttemptOutcome:
    """Ask the lender again about its pending decision; give up once it has timed out."""
    lender = Lender.objects.filter(pk=lender_id).first()
    if lender is None:
        return AttemptOutcome("skipped", detail="no such lender")
    decision = Decision.objects.filter(lead_id=lead_id, lender_id=lender_id).first()
    if decision is None or decision.outcome != Decision.Outcome.PENDING:
        return AttemptOutcome("skipped", detail="no pending decision")
    seconds_left = _pending_seconds_left(lender, decision)
    adapter_cls = adapter_class(lender.adapter)
    if seconds_left <= 0:
        return _pending_timed_out(lead_id, lender, decision)
    if not adapter_cls.polls(lender_config_for(lender).options):
        # Only a callback can resolve it: look again when it would time out.
        return AttemptOutcome("retry", countdown=seconds_left + 0.05, detail="waiting for the lender's callback")
    outcome = _attempt(lead_id=lead_id, lender_id=lender_id, capability=Capability.POLL, due=_poll_due)
    still_pending = outcome.action == "recorded" and outcome.detail == Decision.Outcome.PENDING
    if not (still_pending or outcome.action == "retry"):
        return outcome
    left = _pending_seconds_left(lender, decision)
    countdown = poll_countdown(adapter_cls, left) if still_pending else min(outcome.countdown or 0, left)
    return AttemptOutcome("retry", call_id=outcome.call_id, countdown=max(countdown, 0.05), detail=outcome.detail)


def lender_submit_attempt(*, lead_id: int) -> AttemptOutcome:
    """One attempt at submitting a journey's application to its lender."""
    lender_id = Lead.objects.filter(pk=lead_id).values_list("lender_id", flat=True).first()
    if lender_id is None:
        return AttemptOutcome("skipped", detail="no such lead, or it has no lender")
    if not _supports_submit(lender_id):
        return _submit_without_call(lead_id)
    return _attempt(lead_id=lead_id, lender_id=lender_id, capability=Capability.SUBMIT, due=_submit_due)


def _submit_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> str | _Due:
    if Submission.objects.filter(lead_id=lead.pk).exists():
        return "the lender's answer is already stored"
    if lead.status != LeadStatus.SUBMITTING:
        return f"the lead is {lead.status}, not {LeadStatus.SUBMITTING}"
    return _Due(lead)


# Compare-mode journeys keep taking decisions while the consumer has not moved on to submit.
COMPARE_OPEN_STATUSES = set(selectors.COMPARE_OPEN_STATUSES)
# A prequalify attempt that finds the lender's decision stored as pending asks about it instead.
POLL_INSTEAD = "the decision is pending: poll it"


def _prequalify_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> str | _Due:
    stored = rows.decision_outcome(lead_id=lead.pk, lender_id=lender.pk)
    if stored == Decision.Outcome.PENDING:
        return POLL_INSTEAD
    if stored is not None:
        return "the lender's answer is already stored"
    if lead.compare_mode:
        if ask is None or ask.state != DecisionRequest.State.ASKED:
            return "this lender was not asked, or its ask has ended"
        if lead.status not in COMPARE_OPEN_STATUSES:
            return f"the lead is {lead.status}"
        return _Due(lead, ask)
    if lead.lender_id != lender.pk:
        return "the lead belongs to another lender"
    if lead.status != LeadStatus.AWAITING_DECISION:
        return f"the lead is {lead.status}, not {LeadStatus.AWAITING_DECISION}"
    return _Due(lead)


def _poll_due(lead: Lead, lender: Lender, ask: DecisionRequest | None) -> str | _Due:
    if not Decision.objects.filter(lead_id=lead.pk, lender_id=lender.pk, outcome=Decision.Outcome.PENDING).exists():
        return "the decision is no longer pending"
    if lead.compare_mode:
        if ask is None or ask.state != DecisionRequest.State.ASKED or lead.status not in COMPARE_OPEN_STATUSES:
            return "this lender's ask has ended"
        return _Due(lead, ask)
    if lead.status not in (LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING):
        return f"the lead is {lead.status}"
    return _Due(lead)


def _attempt(
    *, lead_id: int, lender_id: int, capability: str,
    due: Callable[[Lead, Lender, DecisionRequest | None], str | _Due],
) -> AttemptOutcome:
    lender = Lender.objects.filter(pk=lender_id).first()
    if lender is None:
        return AttemptOutcome("skipped", detail="no such lender")
    claimed = _claim(lead_id=lead_id, lender=lender, capability=capability, due=due)
    if isinstance(claimed, _CircuitOpen):
        message = f"{lender.name} is not answering right now (circuit open); no call was made."
        _lead_fail(lead_id, lender_id, capability, message)
        return AttemptOutcome("failed", detail=str(claimed))
    if isinstance(claimed, str):
        return AttemptOutcome("skipped", detail=claimed)
    call, ask, lead = claimed
    started = time.monotonic()
    adapter: LenderAdapter | None = None
    personal: list[str] = []
    try:
        adapter = adapter_for(lender)
        if capability == Capability.PREQUALIFY:
            request = prequalify_request_build(lead, ask=ask, extra_data=adapter.reads_extra_data)
            personal = request.consumer.personal_values()
            with waiting_on_lender():
                result: Any = adapter.prequalify(request, idempotency_key=call.idempotency_key)
        elif capability == Capability.POLL:
            personal = _lead_personal_values(lead)
            reference = Decision.objects.filter(lead_id=lead_id, lender_id=lender_id).values_list(
                "lender_reference", flat=True).first() or ""
            with waiting_on_lender():
                result = adapter.poll(lead.tracking_id, lender_reference=reference)
        else:
            request = submit_request_build(lead)
            personal = request.consumer.personal_values()
            with waiting_on_lender():
                result = adapter.submit(request, idempotency_key=call.idempotency_key)
    except (AdapterConfigurationError, MissingJourneyData) as exc:
        return _fail(call, lender, lead_id, capability, started, adapter, personal, str(exc), http_status=None)
    except PermanentFailure as exc:
        return _fail(call, lender, lead_id, capability, started, adapter, personal, _failure_text(exc), http_status=_status(exc))
    except TechnicalFailure as exc:
        return _technical(call, lender, lead_id, capability, started, adapter, personal, exc)
    except Exception as exc:  # An adapter bug: recorded and retried like a technical failure.
        logger.error(
            "lender call %s raised %s\n%s", call.pk, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__))
        )
        failure = TechnicalFailure(f"Unexpected {type(exc).__name__} in the adapter.")
        return _technical(call, lender, lead_id, capability, started, adapter, personal, failure)
    return _record(call, lender, lead_id, started, adapter, personal, result)


def _claim(
    *, lead_id: int, lender: Lender, capability: str,
    due: Callable[[Lead, Lender, DecisionRequest | None], str | _Due],
) -> tuple[LenderCall, DecisionRequest | None, Lead] | str:
    """Under a row lock: the new in-flight LenderCall, or why there is nothing to do.

    The lock is on the lead, or in compare mode on this lender's ask (DecisionRequest): the K
    lenders of one fan-out are claimed side by side, while two attempts at the same lender's
    work still queue behind each other."""
    with transaction.atomic():
        ask = _ask_locked(lead_id, lender.pk) if capability != Capability.SUBMIT else None
        if ask is not None:
            lead = ask.lead
        else:
            journey = _journey_for(capability)
            lead = journey.filter(pk=lead_id).first()
            if lead is None:
                return "no such lead"
            if lead.compare_mode:
                ask = _ask_locked(lead_id, lender.pk, with_lead=False)
            else:
                lead = journey.select_for_update(of=("self",)).get(pk=lead_id)
        found = due(lead, lender, ask)
        if isinstance(found, str):
            return found
        if lender.circuit_state == CircuitState.OPEN:
            return _CircuitOpen("the lender's circuit is open")
        now = timezone.now()
        live_after = now - timedelta(seconds=_deadline_seconds(lender) + IN_FLIGHT_GRACE_SECONDS)
        scope = {"lead_id": lead_id, "lender_id": lender.pk, "capability": capability}
        earlier = rows.lender_calls_earlier(**scope)
        in_flight = [(pk, started) for pk, outcome, started in earlier if outcome == LenderCall.Outcome.IN_FLIGHT]
        if any(started > live_after for _, started in in_flight):
            return "another attempt is in flight"
        if in_flight:  # left by a worker that died mid-call, long past any deadline
            LenderCall.objects.filter(pk__in=[pk for pk, _ in in_flight]).update(
                outcome=LenderCall.Outcome.TECHNICAL_FAILURE, finished_at=now,
                error="No result recorded: the worker was lost during the call.",
            )
        call = LenderCall.objects.create(
            lender=lender, lead_id=lead_id, capability=capability, started_at=now, attempt=len(earlier) + 1,
            idempotency_key=idempotency_key(lead.tracking_id, capability),
        )
        return call, found.ask, lead


# What a compare-mode attempt reads of its ask when the lead is read on its own.
ASK_FIELDS_READ = ("state", "lead_id", "lender_id", "campaign_id", "product__product_id", "listing__listing_id")
# What an attempt reads of the lead: one narrow query on the hot path (a compare fan-out makes
# a hundred of these at once), the chosen offer only for a submission.
JOURNEY_FIELDS_READ = (
    "tracking_id", "status", "compare_mode", "lender_id", "product__product_id", "listing__listing_id",
    "document_type", "document_number", "full_name", "email", "phone", "birth_date", "region", "monthly_income",
    "currency", "requested_amount", "lender_reference", "chosen_offer_id",
)


def _ask_locked(lead_id: int, lender_id: int, *, with_lead: bool = True) -> DecisionRequest | None:
    """A compare-mode ask, its row locked, with the catalog entry it was asked for and (one
    statement for the hot path of a fan-out, apps/lenders/rows.py) its journey's fields; None
    for a lead not in compare mode."""
    if with_lead:
        return rows.compare_ask_locked(lead_id=lead_id, lender_id=lender_id)
    asks = DecisionRequest.objects.select_for_update(of=("self",)).filter(lead_id=lead_id, lender_id=lender_id)
    return asks.select_related("product", "listing").only(*ASK_FIELDS_READ).first()


def _journey_for(capability: str):
    if capability == Capability.SUBMIT:
        return Lead.objects.select_related("product", "listing", "chosen_offer")
    return Lead.objects.select_related("product", "listing").only(*JOURNEY_FIELDS_READ)


def _deadline_seconds(lender: Lender) -> float:
    return effective_timeout(float(lender.timeout_seconds)) + CONNECT_TIMEOUT_SECONDS


# --- building requests ----------------------------------------------------------------------


def lead_extra_values(lead: Lead) -> dict[str, str]:
    row = LeadExtraData.objects.filter(lead_id=lead.pk).first()
    return {str(name): str(value) for name, value in ((row.values or {}) if row else {}).items()}


def consumer_from_lead(lead: Lead, *, extra_data: bool = True) -> Consumer:
    if not (lead.document_type and lead.document_number and lead.full_name and lead.monthly_income is not None):
        raise MissingJourneyData("The journey has no identity and income to send.")
    return Consumer(
        document_type=lead.document_type, document_number=lead.document_number, full_name=lead.full_name,
        monthly_income=int(lead.monthly_income), currency=lead.currency, email=lead.email or "", phone=lead.phone or "",
        birth_date=lead.birth_date or "", region=lead.region or "",
        extra=lead_extra_values(lead) if extra_data else {},
    )


def _lead_personal_values(lead: Lead) -> list[str]:
    try:
        return consumer_from_lead(lead).personal_values()
    except MissingJourneyData:
        return [value for value in (lead.document_number, lead.full_name, lead.email, lead.phone) if value]


def prequalify_request_build(
    lead: Lead, *, ask: DecisionRequest | None = None, extra_data: bool = True
) -> PrequalifyRequest:
    """The decision request; in compare mode, for the catalog entry this lender was asked for.
    `extra_data`: whether to read LeadExtraData (an adapter that never reads it saves a query)."""
    product, listing = (ask.product, ask.listing) if ask is not None else (lead.product, lead.listing)
    if product is None or listing is None:
        raise MissingJourneyData("The journey has no product or listing to apply for.")
    return PrequalifyRequest(
        tracking_id=lead.tracking_id, product_id=product.product_id, listing_id=listing.listing_id,
        consumer=consumer_from_lead(lead, extra_data=extra_data),
        requested_amount=int(lead.requested_amount) if lead.requested_amount is not None else None,
    )


def submit_request_build(lead: Lead) -> SubmitRequest:
    if lead.product is None or lead.listing is None:
        raise MissingJourneyData("The journey has no product or listing to apply for.")
    chosen = lead.chosen_offer
    if chosen is None:
        raise MissingJourneyData("The journey has no chosen offer to submit.")
    offer = Offer(
        lender_offer_id=chosen.lender_offer_id, amount=chosen.amount, term_months=chosen.term_months,
        monthly_payment=chosen.monthly_payment, annual_rate=chosen.annual_rate, currency=chosen.currency, url=chosen.url,
    )
    return SubmitRequest(
        tracking_id=lead.tracking_id, product_id=lead.product.product_id, listing_id=lead.listing.listing_id,
        consumer=consumer_from_lead(lead), offer=offer, lender_reference=lead.lender_reference,
    )


def lead_extra_data_set(*, lead: Lead, values: dict[str, str]) -> None:
    """Store journey data an adapter declared that Lead has no column for (the flow calls this).

    Only JOURNEY_FIELDS names are accepted; Lead's own columns (email, phone, birth_date, region,
    requested_amount) are set on the Lead, not here. Blank values remove a field.
    """
    unknown = [name for name in values if name not in JOURNEY_FIELDS or name in LEAD_COLUMNS]
    if unknown:
        raise ValueError(f"Not extra journey fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        row, _ = LeadExtraData.objects.select_for_update().get_or_create(lead=lead)
        merged = {**(row.values or {}), **{name: str(value).strip() for name, value in values.items()}}
        row.values = {name: value for name, value in merged.items() if value}
        row.save()


# --- completing an attempt ------------------------------------------------------------------


def _record(
    call: LenderCall, lender: Lender, lead_id: int, started: float, adapter: LenderAdapter,
    personal: list[str], result: DecisionResult | SubmissionResult,
) -> AttemptOutcome:
    if isinstance(result, DecisionResult):
        outcome = str(result.decision)
        _complete(call, lender, outcome, started, adapter, personal)
        decision = decision_store(lead_id=lead_id, lender=lender, result=result)
        if decision.outcome == Decision.Outcome.PENDING and call.capability == Capability.PREQUALIFY:
            _schedule_poll(lead_id, lender, decision)
        return AttemptOutcome("recorded", call_id=call.pk, detail=decision.outcome)
    outcome = LenderCall.Outcome.SUBMITTED
    _complete(call, lender, outcome, started, adapter, personal)
    lead_services.submission_record(lead_id=lead_id, result=result)
    return AttemptOutcome("recorded", call_id=call.pk, detail=str(outcome))


@transaction.atomic
def decision_store(*, lead_id: int, lender: Lender, result: DecisionResult) -> Decision:
    """Hand a decision to the lead (apps.leads.services.decision_record) and, in the same
    transaction, keep what the Decision row has no column for: the rejection's category and
    notice, the offers' APR, fee and amount group. Whoever sees the decision sees them too."""
    decision = lead_services.decision_record(lead_id=lead_id, lender_id=lender.pk, result=result,
                                             lender_code=lender.code)
    if decision.outcome != str(result.decision):
        return decision  # an earlier answer was kept; its extras were stored with it.
    if decision.outcome == Decision.Outcome.REJECTED:
        category = result.reason_category or selectors.rejection_classify(f"{result.reason_code} {result.reason} {result.reason_text}")
        DecisionReason.objects.get_or_create(decision=decision, defaults={
            "category": category, "lender_code": result.reason_code[:128],
            "lender_text": (result.reason_text or result.reason)[:512], "notice_html": result.notice_html,
        })
    extras = {offer.lender_offer_id: offer for offer in result.offers if offer.apr is not None
              or offer.origination_fee is not None or offer.amount_group}
    if extras:
        rows = OfferRow.objects.filter(decision=decision, lender_offer_id__in=list(extras)).exclude(terms__isnull=False)
        OfferTerms.objects.bulk_create(
            OfferTerms(offer=row, apr=extras[row.lender_offer_id].apr, origination_fee=extras[row.lender_offer_id].origination_fee,
                       amount_group=extras[row.lender_offer_id].amount_group)
            for row in rows
        )
    return decision


def _schedule_poll(lead_id: int, lender: Lender, decision: Decision) -> None:
    from apps.lenders import tasks

    countdown = poll_countdown(adapter_class(lender.adapter), _pending_seconds_left(lender, decision))
    kwargs = {"lead_id": lead_id, "lender_id": lender.pk}
    transaction.on_commit(lambda: tasks.lender_poll.apply_async(kwargs=kwargs, countdown=countdown))


def _pending_seconds_left(lender: Lender, decision: Decision) -> float:
    """A pending decision times out `pending_timeout_seconds` after it was first stored or
    after the consumer's last "try again", whichever is later."""
    waiting_since = decision.created_at
    round_started = selectors.lender_round_started_at(lead_id=decision.lead_id)
    if round_started is not None and round_started > waiting_since:
        waiting_since = round_started
    deadline = waiting_since + timedelta(seconds=lender.pending_timeout_seconds)
    return (deadline - timezone.now()).total_seconds()


def _pending_timed_out(lead_id: int, lender: Lender, decision: Decision) -> AttemptOutcome:
    message = f"No final decision within {lender.pending_timeout_seconds} s (timed out)."
    _lead_fail(lead_id, lender.pk, Capability.PREQUALIFY, message)
    return AttemptOutcome("failed", detail="timed out")


def _fail(
    call: LenderCall, lender: Lender, lead_id: int, capability: str, started: float, adapter: LenderAdapter | None,
    personal: list[str], message: str, *, http_status: int | None,
) -> AttemptOutcome:
    message = mask_values(message, personal)
    _complete(call, lender, LenderCall.Outcome.PERMANENT_FAILURE, started, adapter, personal, error=message,
              http_status=http_status)
    _lead_fail(lead_id, lender.pk, capability, message)
    return AttemptOutcome("failed", call_id=call.pk, detail=message)


def _technical(
    call: LenderCall, lender: Lender, lead_id: int, capability: str, started: float,
    adapter: LenderAdapter | None, personal: list[str], exc: TechnicalFailure,
) -> AttemptOutcome:
    message = mask_values(exc.message, personal)
    _complete(call, lender, LenderCall.Outcome.TECHNICAL_FAILURE, started, adapter, personal, error=message,
              http_status=_status(exc))
    failures = selectors.lender_technical_failures_in_round(lead_id=lead_id, lender_id=lender.pk, capability=capability)
    if capability != Capability.POLL and failures > lender.max_retries:
        # A poll is not failed by its retries: the pending decision's timeout ends it.
        summary = f"No usable answer after {failures} attempts; last: {message}"
        _lead_fail(lead_id, lender.pk, capability, summary)
        return AttemptOutcome("failed", call_id=call.pk, detail=summary)
    return AttemptOutcome("retry", call_id=call.pk, countdown=retry_countdown(failures, exc.retry_after), detail=message)


def _supports_submit(lender_id: int) -> bool:
    """False only for a registered adapter that declares no submission call."""
    lender = Lender.objects.filter(pk=lender_id).first()
    if lender is None:
        return True
    try:
        return adapter_class(lender.adapter).submits(lender_config_for(lender).options)
    except AdapterConfigurationError:
        return True  # the attempt records the configuration error where staff see it.


def _submit_without_call(lead_id: int) -> AttemptOutcome:
    """This lender has no submission call: the chosen offer's URL is the redirect (DESIGN §4)."""
    lead = Lead.objects.select_related("chosen_offer").get(pk=lead_id)
    if lead.status != LeadStatus.SUBMITTING or Submission.objects.filter(lead_id=lead_id).exists():
        return AttemptOutcome("skipped", detail=f"the lead is {lead.status}")
    offer = lead.chosen_offer
    if offer is None or not offer.url:
        _lead_fail(lead_id, lead.lender_id, Capability.SUBMIT, "This lender has no submission call and the offer has no URL.")
        return AttemptOutcome("failed", detail="no offer URL")
    result = SubmissionResult(status="offer_selected", redirect_url=offer.url, lender_reference=lead.lender_reference)
    lead_services.submission_record(lead_id=lead_id, result=result)
    return AttemptOutcome("recorded", detail="offer_selected")


def _lead_fail(lead_id: int, lender_id: int | None, capability: str, message: str) -> None:
    if capability == Capability.SUBMIT:
        lead_services.submission_fail(lead_id=lead_id, message=message)
        return
    with transaction.atomic():
        DecisionRequest.objects.filter(lead_id=lead_id, lender_id=lender_id).update(
            state=DecisionRequest.State.FAILED, failure=message[:512], updated_at=timezone.now(),
        )
        lead_services.decision_fail(lead_id=lead_id, lender_id=lender_id, message=message)


def _complete(
    call: LenderCall, lender: Lender, outcome: str, started: float, adapter: LenderAdapter | None, personal: list[str],
    *, error: str = "", http_status: int | None = None,
) -> None:
    """Fill in the attempt's row: what was sent and received, masked, truncated; then let the
    lender's circuit breaker see how the call went."""
    exchanges: list[Exchange] = list(adapter.http.exchanges) if adapter is not None else []
    last = exchanges[-1] if exchanges else None
    limit = settings.LENDER_CALL_BODY_LIMIT
    fields: dict[str, Any] = {
        "outcome": outcome,
        "error": error[:2000],
        "http_status": http_status if http_status is not None else (last.status if last else None),
        "finished_at": timezone.now(),
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    if last is not None:
        fields.update(
            request_method=last.method,
            request_url=mask_values(last.url, personal)[:1000],
            request_body=truncate(_bodies(exchanges, "request_body", personal), limit),
            response_body=truncate(_bodies(exchanges, "response_body", personal), limit),
        )
    LenderCall.objects.filter(pk=call.pk).update(**fields)
    logger.info(
        "lender call lead=%s lender=%s capability=%s attempt=%s outcome=%s status=%s duration_ms=%s",
        call.lead_id, call.lender_id, call.capability, call.attempt, outcome, fields["http_status"], fields["duration_ms"],
    )
    if last is not None:  # no HTTP sent (a configuration error) says nothing about the lender's health
        lender_circuit_observe(lender=lender, technical_failure=outcome == LenderCall.Outcome.TECHNICAL_FAILURE)


def _bodies(exchanges: list[Exchange], attribute: str, personal: list[str]) -> str:
    """One exchange: its body, masked. Several (a token call, then the real one): each masked on
    its own (so each JSON body is masked by key too), then listed under its URL."""
    if len(exchanges) == 1:
        return mask_text(getattr(exchanges[0], attribute), personal)
    return "\n".join(
        f"--- {e.method} {mask_values(e.url, personal)}\n{mask_text(getattr(e, attribute), personal)}" for e in exchanges
    )


def _status(exc: AdapterError) -> int | None:
    return exc.exchange.status if exc.exchange is not None else None


def _failure_text(exc: AdapterError) -> str:
    """The failure in the lender's words: its message, plus any details it does not already say."""
    missing = [detail for detail in exc.details if detail not in exc.message]
    return f"{exc.message} {'; '.join(missing)}".strip()


# --- callbacks (lender → Prosperas) ---------------------------------------------------------

CALLBACK_MAX_BYTES = 256 * 1024


def lender_callback_receive(*, token: str, body: bytes) -> int:
    """A lender's callback on its unguessable URL: the HTTP status to answer (no body).

    2xx tells the lender to stop sending it (seed 002), so a callback we cannot use yet is
    refused with a status that makes the lender try again: 404 for a journey we do not know (yet:
    the lender may call back before our own record of its first answer is stored), 400 for a
    body we cannot read, 503 while the lender is unknown or its adapter takes no callbacks.
    Every callback that names a journey is kept as a LenderCall (capability callback), masked.
    """
    lender = Lender.objects.filter(callback_token=token, is_active=True).first() if token else None
    if lender is None:
        return 404
    adapter = adapter_for(lender)
    if not adapter.supports_callback:
        return 404
    if len(body) > CALLBACK_MAX_BYTES:
        return 413
    started = time.monotonic()
    try:
        parsed = adapter.parse_callback(body)
    except (TechnicalFailure, PermanentFailure) as exc:
        logger.warning("callback from lender %s refused: %s", lender.code, exc.message)
        return 400
    lead = _callback_lead(lender, tracking_id=parsed.tracking_id, lender_reference=parsed.lender_reference)
    if lead is None:
        logger.info("callback from lender %s names no journey of it (yet)", lender.code)
        return 404
    personal = _lead_personal_values(lead)
    now = timezone.now()
    call = LenderCall.objects.create(
        lender=lender, lead=lead, capability=Capability.CALLBACK, started_at=now, finished_at=now,
        attempt=selectors.lender_call_attempt_count(lead_id=lead.pk, lender_id=lender.pk, capability=Capability.CALLBACK) + 1,
        idempotency_key=idempotency_key(lead.tracking_id, Capability.CALLBACK), request_method="POST",
        request_url="(our callback URL)", request_body=mask_and_truncate(body.decode("utf-8", "replace"), personal,
                                                                         settings.LENDER_CALL_BODY_LIMIT),
        outcome=_callback_outcome(parsed), http_status=204, error=mask_values(parsed.failure, personal),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if parsed.result is not None:
        decision_store(lead_id=lead.pk, lender=lender, result=parsed.result)
    elif parsed.failure and not Decision.objects.filter(lead=lead, lender=lender).exclude(
            outcome=Decision.Outcome.PENDING).exists():
        _lead_fail(lead.pk, lender.pk, Capability.PREQUALIFY, parsed.failure)
    logger.info("callback from lender %s recorded as call %s", lender.code, call.pk)
    return 204


def _callback_outcome(parsed: CallbackResult) -> str:
    if parsed.result is not None:
        return str(parsed.result.decision)
    return LenderCall.Outcome.PERMANENT_FAILURE if parsed.failure else LenderCall.Outcome.PENDING


def _callback_lead(lender: Lender, *, tracking_id: str, lender_reference: str) -> Lead | None:
    """The journey a callback names, if this lender was asked about it."""
    if lender_reference:
        decision = Decision.objects.filter(lender=lender, lender_reference=lender_reference).select_related("lead").first()
        if decision is not None:
            return decision.lead
    if tracking_id:
        lead = Lead.objects.filter(tracking_id=tracking_id).first()
        if lead is not None and (
            lead.lender_id == lender.pk or DecisionRequest.objects.filter(lead=lead, lender=lender).exists()
        ):
            return lead
    return None


# --- compare mode: one journey, many lenders ------------------------------------------------


def lender_decisions_request(*, lead: Lead, entries: Iterable[Any]) -> list[int]:
    """Ask every lender of `entries` for a decision at once; returns the lender ids asked.

    `entries` are catalog entries (anything with `.listing` and `.campaign`, such as
    apps.listings.selectors.CatalogEntry): one ask per lender, for its first entry whose campaign
    can take the lead. Lenders that are inactive or whose circuit is open are skipped. An ask
    that failed before is asked again. Each ask is a task on the lender_calls queue, enqueued
    when the transaction commits, so the K calls run side by side on the worker's threads and
    each decision is stored as it arrives.

    The lead is delivered to each new lender's campaign as a single journey is (its conditions,
    caps and budget checked, the delivery charged), all campaigns at once
    (apps.campaigns.services.lead_deliveries_record): no lender call starts before this
    transaction commits, so its cost is paid by every lender of the fan-out.
    """
    from apps.campaigns.services import lead_deliveries_record

    # The asks made before (a "try again"), read at once; new asks are inserted at once at the end.
    earlier = {ask.lender_id: ask for ask in DecisionRequest.objects.filter(lead=lead).only("lender_id", "state")}
    lenders: list[int] = []  # in the order of their first entry
    candidates: dict[int, list[Any]] = {}  # lender -> its entries, for lenders not asked before
    for entry in entries:
        lender = entry.campaign.lender
        if lender.pk not in lenders:
            if not lender.is_active or lender.circuit_state == CircuitState.OPEN:
                continue
            lenders.append(lender.pk)
        if lender.pk not in earlier:
            candidates.setdefault(lender.pk, []).append(entry)
    delivered = lead_deliveries_record(
        lead=lead, campaign_ids=[entry.campaign.pk for group in candidates.values() for entry in group])
    asked: list[int] = []
    new_asks: list[DecisionRequest] = []
    asked_again: list[int] = []
    for lender_id in lenders:
        ask = earlier.get(lender_id)
        if ask is None:
            # The first entry whose campaign took the lead (at most one campaign per lender does).
            entry = next((entry for entry in candidates[lender_id]
                          if not isinstance(delivered.get(entry.campaign.pk, RuleFailure), RuleFailure)), None)
            if entry is None:
                continue  # none of this lender's campaigns can take the lead
            new_asks.append(DecisionRequest(lead=lead, lender_id=lender_id, listing=entry.listing,
                                            product=entry.listing.product, campaign=entry.campaign))
        elif ask.state == DecisionRequest.State.FAILED:
            asked_again.append(ask.pk)
        else:
            continue
        asked.append(lender_id)
    DecisionRequest.objects.bulk_create(new_asks)
    if asked_again:
        DecisionRequest.objects.filter(pk__in=asked_again).update(
            state=DecisionRequest.State.ASKED, failure="", updated_at=timezone.now())
    if asked:
        # Robust: a broker down at commit must not fail the consumer's request; the sweep re-asks.
        transaction.on_commit(lambda: _enqueue_prequalify_many(lead.pk, asked), robust=True)
    return asked


def _enqueue_prequalify_many(lead_id: int, lender_ids: list[int]) -> None:
    """K tasks through one producer (one broker connection): enqueueing a fan-out of a hundred
    lenders takes tens of milliseconds, not hundreds."""
    from apps.lenders import tasks

    with tasks.lender_prequalify.app.producer_or_acquire() as producer:
        for lender_id in lender_ids:
            tasks.lender_prequalify.apply_async(kwargs={"lead_id": lead_id, "lender_id": lender_id}, producer=producer)


def lender_compare_dispatch(*, lead_id: int) -> AttemptOutcome:
    """A compare-mode journey's "try again": ask again every lender whose ask failed."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id, compare_mode=True).first()
        if lead is None or lead.status != LeadStatus.AWAITING_DECISION:
            return AttemptOutcome("skipped", detail="not a compare-mode journey awaiting decisions")
        failed = list(DecisionRequest.objects.filter(lead_id=lead_id, state=DecisionRequest.State.FAILED)
                      .values_list("lender_id", flat=True))
        DecisionRequest.objects.filter(lead_id=lead_id, lender_id__in=failed).update(
            state=DecisionRequest.State.ASKED, failure="", updated_at=timezone.now())
        if failed:
            transaction.on_commit(lambda: _enqueue_prequalify_many(lead_id, failed), robust=True)
    return AttemptOutcome("recorded", detail=f"asked {len(failed)} lenders again")


# --- the circuit breaker --------------------------------------------------------------------


def _circuit_settings() -> dict[str, float]:
    return {
        "window_calls": _setting("LENDER_CIRCUIT_WINDOW_CALLS", 20),
        "window_seconds": _setting("LENDER_CIRCUIT_WINDOW_SECONDS", 300),
        "min_calls": _setting("LENDER_CIRCUIT_MIN_CALLS", 10),
        "failure_ratio": _setting("LENDER_CIRCUIT_FAILURE_RATIO", 0.5),
        "cooldown_seconds": _setting("LENDER_CIRCUIT_COOLDOWN_SECONDS", 30),
    }


def _circuit_move(lender: Lender, *, from_states: set[str], to: str, note: str, held_open: bool | None = None) -> bool:
    fields: dict[str, Any] = {"circuit_state": to, "circuit_changed_at": timezone.now(), "circuit_note": note[:512]}
    if held_open is not None:
        fields["circuit_held_open"] = held_open
    moved = Lender.objects.filter(pk=lender.pk, circuit_state__in=from_states).update(**fields)
    if moved:
        for name, value in fields.items():
            setattr(lender, name, value)
        logger.warning("lender %s circuit -> %s: %s", lender.code, to, note)
    return bool(moved)


def lender_circuit_observe(*, lender: Lender, technical_failure: bool) -> None:
    """After each call: a half-open circuit closes on an answer and opens again on a failure; a
    closed one opens when, over its recent calls, technical failures (timeouts included) reach
    the threshold (LENDER_CIRCUIT_* settings: at least `min_calls` of the last `window_calls`
    within `window_seconds`, with a failure ratio of `failure_ratio` or more)."""
    state = lender.circuit_state
    if not technical_failure:
        if state == CircuitState.HALF_OPEN and not lender.circuit_held_open:
            _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.CLOSED, note="a call succeeded while probing")
        return
    if state == CircuitState.HALF_OPEN:
        _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.OPEN, note="a call failed while probing")
        return
    if state != CircuitState.CLOSED:
        return
    rules = _circuit_settings()
    outcomes = selectors.lender_recent_outcomes(
        lender_id=lender.pk, limit=int(rules["window_calls"]),
        since=timezone.now() - timedelta(seconds=rules["window_seconds"]),
    )
    failures = sum(1 for outcome in outcomes if outcome == LenderCall.Outcome.TECHNICAL_FAILURE)
    if len(outcomes) >= rules["min_calls"] and failures / len(outcomes) >= rules["failure_ratio"]:
        _circuit_move(lender, from_states={CircuitState.CLOSED}, to=CircuitState.OPEN,
                      note=f"{failures} of the last {len(outcomes)} calls failed technically or timed out")


def lender_circuit_force(*, lender: Lender, state: str) -> None:
    """Staff's override: forced open stays open (probes leave it) until staff close it."""
    if state == CircuitState.OPEN:
        _circuit_move(lender, from_states=set(CircuitState.values), to=CircuitState.OPEN, note="forced open by staff",
                      held_open=True)
    else:
        _circuit_move(lender, from_states=set(CircuitState.values), to=CircuitState.CLOSED, note="forced closed by staff",
                      held_open=False)


def lender_circuits_probe() -> int:
    """Probe every open circuit whose cool-down has passed (run by the periodic sweep).

    The circuit goes half-open, one probe (the adapter's `probe`, no consumer involved) asks the
    lender's API whether it answers at all: an answer closes the circuit, a technical failure
    opens it again for another cool-down. Returns how many lenders were probed.
    """
    cooldown = _circuit_settings()["cooldown_seconds"]
    due = Lender.objects.filter(
        circuit_state=CircuitState.OPEN, circuit_held_open=False, is_active=True,
        circuit_changed_at__lte=timezone.now() - timedelta(seconds=cooldown),
    )
    probed = 0
    for lender in due:
        if not _circuit_move(lender, from_states={CircuitState.OPEN}, to=CircuitState.HALF_OPEN, note="probing"):
            continue
        probed += 1
        try:
            adapter = adapter_for(lender)
            with waiting_on_lender():
                adapter.probe()
        except TechnicalFailure as exc:
            _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.OPEN, note=f"probe failed: {exc.message}")
        except (PermanentFailure, AdapterConfigurationError) as exc:  # it answered: the API is up
            _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.CLOSED,
                          note=f"probe answered ({exc}); circuit closed")
        else:
            _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.CLOSED, note="probe answered")
    return probed


# --- the sweep ------------------------------------------------------------------------------


def lender_work_sweep() -> int:
    """Re-enqueue lender work whose task was lost, and probe open circuits. Returns how many
    tasks were enqueued.

    The database says which work is due (DESIGN.md §4); an enqueue lost at commit, a worker
    killed mid-call or a countdown dropped by the broker all leave a lead waiting with no recent
    call. Re-enqueueing is safe: an attempt that finds the work done or in flight does nothing.
    """
    from apps.lenders import tasks

    stale_before = timezone.now() - timedelta(seconds=settings.LENDER_SWEEP_STALE_SECONDS)
    leads = selectors.leads_due_for_lender_work(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead in leads:
        if selectors.WAITING_ON_LENDER[lead.status] == Capability.PREQUALIFY:
            tasks.lender_prequalify.delay(lead_id=lead.pk, lender_id=lead.lender_id)
        else:
            tasks.lender_submit.delay(lead_id=lead.pk)
    asks = selectors.decision_requests_due(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead_id, lender_id in asks:
        tasks.lender_prequalify.delay(lead_id=lead_id, lender_id=lender_id)
    pending = selectors.pending_decisions_due(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead_id, lender_id in pending:
        tasks.lender_poll.delay(lead_id=lead_id, lender_id=lender_id)
    count = len(leads) + len(asks) + len(pending)
    if count:
        logger.warning("lender sweep re-enqueued %s pieces of lender work", count)
    lender_circuits_probe()
    return count


# --- dry run (admin) ------------------------------------------------------------------------

DRY_RUN_CONSUMER = Consumer(
    document_type="CC", document_number="1000000001", full_name="Prueba Sandbox", monthly_income=3_200_000,
    email="prueba@example.com", phone="+573000000000", birth_date="1990-01-15", region="CO-DC",
    extra={"employment_status": "employed", "city": "Bogotá", "address_line": "Calle 1 # 2-3", "postal_code": "110111"},
)


@dataclass
class DryRun:
    """What a dry run sent and what the adapter made of the answer (shown to staff)."""

    exchanges: list[Exchange] = field(default_factory=list)
    result: DecisionResult | None = None
    error: str = ""
    error_kind: str = ""


def lender_dry_run(*, lender: Lender) -> DryRun:
    """One prequalify call with made-up data, recorded nowhere: for staff checking a new
    lender's configuration (above all a mapped JSON lender) against its sandbox or staging API.
    Refused for production lenders, which must not receive made-up applications."""
    if lender.environment != Lender.Environment.STAGING:
        return DryRun(error="Dry runs are for staging lenders only.", error_kind="refused")
    product = lender.products.filter(is_active=True).first() if hasattr(lender, "products") else None
    request = PrequalifyRequest(
        tracking_id=f"dryrun_{uuid.uuid4()}", product_id=product.product_id if product else "dry-run",
        listing_id="dry-run", consumer=DRY_RUN_CONSUMER, requested_amount=int(product.min_amount) if product else None,
    )
    run = DryRun()
    adapter: LenderAdapter | None = None
    try:
        adapter = adapter_for(lender)
        run.result = adapter.prequalify(request, idempotency_key=idempotency_key(request.tracking_id, "prequalify"))
    except (AdapterError, AdapterConfigurationError) as exc:
        run.error = _failure_text(exc) if isinstance(exc, AdapterError) else str(exc)
        run.error_kind = type(exc).__name__
    if adapter is not None:
        run.exchanges = list(adapter.http.exchanges)
    return run


# --- lender secrets (admin) -----------------------------------------------------------------


def lender_secrets_apply(
    *, lender: Lender, credentials_updates: dict[str, str] | None = None, credentials_remove: list[str] | None = None,
    postback_secret: str = "", keep_previous_secret: bool = False, clear_previous_secret: bool = False,
) -> None:
    """Change a lender's secrets on the (unsaved) instance; blank values keep what is stored.

    A new postback secret may keep the old one as `postback_secret_previous`, so both verify
    during a rotation. The bearer key's digest follows the secret and the auth mode.
    """
    credentials = dict(lender.credentials or {})
    for name in credentials_remove or []:
        credentials.pop(name, None)
    credentials.update({name: value for name, value in (credentials_updates or {}).items() if value})
    lender.credentials = credentials
    if clear_previous_secret:
        lender.postback_secret_previous = ""
    if postback_secret and postback_secret != lender.postback_secret:
        if keep_previous_secret and lender.postback_secret:
            lender.postback_secret_previous = lender.postback_secret
        lender.postback_secret = postback_secret
    api_key_mode = lender.postback_auth == Lender.PostbackAuth.API_KEY and lender.postback_secret
    lender.postback_api_key_digest = Lender.api_key_digest(lender.postback_secret) if api_key_mode else ""
