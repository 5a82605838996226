"""The lender call engine: one attempt at one capability, recorded before and after the call.

Tasks call `lender_prequalify_attempt` / `lender_submit_attempt` and do what the returned
`AttemptOutcome` says (retry after `countdown`, or stop). The same functions can be called
directly, without Celery. An attempt:

1. claims the work under a row lock on the lead: nothing to do if the result is already stored
   (a redelivered or retried task never stores a second one), if the lead is no longer waiting
   on this lender, or if another attempt is in flight; otherwise it creates the LenderCall row
   (in flight) before any HTTP is sent;
2. builds the frozen request from the lead (consumer data decrypted here, never put in a task);
3. calls the adapter, which has a hard deadline (apps/lenders/http.py);
4. completes the LenderCall row (duration, status, outcome, masked and truncated bodies) and
   hands the result to apps.leads.services, or decides between a retry and failing the lead.

The retry budget is counted in the database (technical failures since the consumer's last
"try again"), not in the broker's message, so a task re-enqueued by the sweep cannot reset it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.leads import services as lead_services
from apps.leads.models import Decision, Lead, LeadStatus, Submission
from apps.lenders import selectors
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import (
    AdapterConfigurationError,
    AdapterError,
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
from apps.lenders.http import CONNECT_TIMEOUT_SECONDS, Exchange, effective_timeout
from apps.lenders.masking import mask_and_truncate, mask_values
from apps.lenders.models import Lender, LenderCall

logger = logging.getLogger(__name__)

# A 429's Retry-After is honoured up to this; beyond it the lender is effectively down for this
# journey, and a countdown longer than the broker's visibility timeout would be redelivered.
RETRY_AFTER_LIMIT_SECONDS = 600.0
# An in-flight call older than its deadline plus this margin belongs to a worker that died.
IN_FLIGHT_GRACE_SECONDS = 10.0
SWEEP_BATCH = 500

Capability = LenderCall.Capability


@dataclass(frozen=True)
class AttemptOutcome:
    """What an attempt did, and what the caller should do next.

    action: "recorded" (a result was stored), "failed" (the lead was failed: permanent failure,
    configuration error, or the retry budget is spent), "retry" (technical failure: try again
    after `countdown` seconds), "skipped" (nothing to do; `detail` says why).
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


# --- configuration and keys -----------------------------------------------------------------


def lender_config_for(lender: Lender) -> LenderConfig:
    return LenderConfig(
        code=lender.code,
        base_url=lender.base_url,
        timeout_seconds=float(lender.timeout_seconds),
        credentials=dict(lender.credentials or {}),
        environment=lender.environment,
    )


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


# --- the two capabilities -------------------------------------------------------------------


def lender_prequalify_attempt(*, lead_id: int, lender_id: int) -> AttemptOutcome:
    """One attempt at the lender's decision for a journey waiting on it."""
    return _attempt(
        lead_id=lead_id, lender_id=lender_id, capability=Capability.PREQUALIFY,
        waiting_status=LeadStatus.AWAITING_DECISION,
        already_done=lambda: Decision.objects.filter(lead_id=lead_id, lender_id=lender_id).exists(),
    )


def lender_submit_attempt(*, lead_id: int) -> AttemptOutcome:
    """One attempt at submitting a journey's application to its lender."""
    lender_id = Lead.objects.filter(pk=lead_id).values_list("lender_id", flat=True).first()
    if lender_id is None:
        return AttemptOutcome("skipped", detail="no such lead, or it has no lender")
    if not _supports_submit(lender_id):
        return _submit_without_call(lead_id)
    return _attempt(
        lead_id=lead_id, lender_id=lender_id, capability=Capability.SUBMIT,
        waiting_status=LeadStatus.SUBMITTING,
        already_done=lambda: Submission.objects.filter(lead_id=lead_id).exists(),
    )


def _attempt(
    *, lead_id: int, lender_id: int, capability: str, waiting_status: str, already_done: Callable[[], bool]
) -> AttemptOutcome:
    lender = Lender.objects.filter(pk=lender_id).first()
    if lender is None:
        return AttemptOutcome("skipped", detail="no such lender")
    call_or_reason = _claim(
        lead_id=lead_id, lender=lender, capability=capability, waiting_status=waiting_status, already_done=already_done
    )
    if isinstance(call_or_reason, str):
        return AttemptOutcome("skipped", detail=call_or_reason)
    call = call_or_reason
    lead = Lead.objects.select_related("product", "listing", "chosen_offer").get(pk=lead_id)
    started = time.monotonic()
    adapter: LenderAdapter | None = None
    personal: list[str] = []
    try:
        adapter = adapter_class(lender.adapter)(lender_config_for(lender))
        if capability == Capability.PREQUALIFY:
            request = prequalify_request_build(lead)
            personal = request.consumer.personal_values()
            result: Any = adapter.prequalify(request, idempotency_key=call.idempotency_key)
        else:
            request = submit_request_build(lead)
            personal = request.consumer.personal_values()
            result = adapter.submit(request, idempotency_key=call.idempotency_key)
    except (AdapterConfigurationError, MissingJourneyData) as exc:
        return _fail(call, lead_id, capability, started, adapter, personal, str(exc), http_status=None)
    except PermanentFailure as exc:
        return _fail(call, lead_id, capability, started, adapter, personal, _failure_text(exc), http_status=_status(exc))
    except TechnicalFailure as exc:
        return _technical(call, lender, lead_id, capability, started, adapter, personal, exc)
    except Exception as exc:  # An adapter bug: recorded and retried like a technical failure.
        logger.error(
            "lender call %s raised %s\n%s", call.pk, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__))
        )
        failure = TechnicalFailure(f"Unexpected {type(exc).__name__} in the adapter.")
        return _technical(call, lender, lead_id, capability, started, adapter, personal, failure)
    return _record(call, lead_id, lender_id, started, adapter, personal, result)


def _claim(
    *, lead_id: int, lender: Lender, capability: str, waiting_status: str, already_done: Callable[[], bool]
) -> LenderCall | str:
    """Under a lock on the lead: the new in-flight LenderCall, or why there is nothing to do."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).only("pk", "status", "tracking_id").first()
        if lead is None:
            return "no such lead"
        if already_done():
            return "the lender's answer is already stored"
        if lead.status != waiting_status:
            return f"the lead is {lead.status}, not {waiting_status}"
        now = timezone.now()
        live_after = now - timedelta(seconds=_deadline_seconds(lender) + IN_FLIGHT_GRACE_SECONDS)
        scope = {"lead_id": lead_id, "lender_id": lender.pk, "capability": capability}
        if selectors.lender_calls_in_flight(**scope, started_after=live_after).exists():
            return "another attempt is in flight"
        # In-flight rows older than any deadline were left by a worker that died mid-call.
        selectors.lender_calls_for(**scope).filter(outcome=LenderCall.Outcome.IN_FLIGHT).update(
            outcome=LenderCall.Outcome.TECHNICAL_FAILURE, finished_at=now,
            error="No result recorded: the worker was lost during the call.",
        )
        return LenderCall.objects.create(
            lender=lender, lead_id=lead_id, capability=capability, started_at=now,
            attempt=selectors.lender_call_attempt_count(**scope) + 1,
            idempotency_key=idempotency_key(lead.tracking_id, capability),
        )


def _deadline_seconds(lender: Lender) -> float:
    return effective_timeout(float(lender.timeout_seconds)) + CONNECT_TIMEOUT_SECONDS


# --- building requests ----------------------------------------------------------------------


def consumer_from_lead(lead: Lead) -> Consumer:
    if not (lead.document_type and lead.document_number and lead.full_name and lead.monthly_income is not None):
        raise MissingJourneyData("The journey has no identity and income to send.")
    return Consumer(
        document_type=lead.document_type, document_number=lead.document_number, full_name=lead.full_name,
        monthly_income=int(lead.monthly_income), currency=lead.currency, email=lead.email or "", phone=lead.phone or "",
    )


def _check_catalog(lead: Lead) -> None:
    if lead.product is None or lead.listing is None:
        raise MissingJourneyData("The journey has no product or listing to apply for.")


def prequalify_request_build(lead: Lead) -> PrequalifyRequest:
    _check_catalog(lead)
    return PrequalifyRequest(
        tracking_id=lead.tracking_id, product_id=lead.product.product_id, listing_id=lead.listing.listing_id,
        consumer=consumer_from_lead(lead),
        requested_amount=int(lead.requested_amount) if lead.requested_amount is not None else None,
    )


def submit_request_build(lead: Lead) -> SubmitRequest:
    _check_catalog(lead)
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


# --- completing an attempt ------------------------------------------------------------------


def _record(
    call: LenderCall, lead_id: int, lender_id: int, started: float, adapter: LenderAdapter,
    personal: list[str], result: DecisionResult | SubmissionResult,
) -> AttemptOutcome:
    if isinstance(result, DecisionResult):
        outcome = str(result.decision)
        _complete(call, outcome, started, adapter, personal)
        lead_services.decision_record(lead_id=lead_id, lender_id=lender_id, result=result)
    else:
        outcome = LenderCall.Outcome.SUBMITTED
        _complete(call, outcome, started, adapter, personal)
        lead_services.submission_record(lead_id=lead_id, result=result)
    return AttemptOutcome("recorded", call_id=call.pk, detail=str(outcome))


def _fail(
    call: LenderCall, lead_id: int, capability: str, started: float, adapter: LenderAdapter | None,
    personal: list[str], message: str, *, http_status: int | None,
) -> AttemptOutcome:
    message = mask_values(message, personal)
    _complete(call, LenderCall.Outcome.PERMANENT_FAILURE, started, adapter, personal, error=message, http_status=http_status)
    _lead_fail(lead_id, capability, message)
    return AttemptOutcome("failed", call_id=call.pk, detail=message)


def _technical(
    call: LenderCall, lender: Lender, lead_id: int, capability: str, started: float,
    adapter: LenderAdapter | None, personal: list[str], exc: TechnicalFailure,
) -> AttemptOutcome:
    message = mask_values(exc.message, personal)
    _complete(call, LenderCall.Outcome.TECHNICAL_FAILURE, started, adapter, personal, error=message, http_status=_status(exc))
    failures = selectors.lender_technical_failures_in_round(lead_id=lead_id, lender_id=lender.pk, capability=capability)
    if failures > lender.max_retries:
        summary = f"No usable answer after {failures} attempts; last: {message}"
        _lead_fail(lead_id, capability, summary)
        return AttemptOutcome("failed", call_id=call.pk, detail=summary)
    return AttemptOutcome("retry", call_id=call.pk, countdown=retry_countdown(failures, exc.retry_after), detail=message)


def _supports_submit(lender_id: int) -> bool:
    """False only for a registered adapter that declares no submission call."""
    lender = Lender.objects.filter(pk=lender_id).only("adapter").first()
    if lender is None:
        return True
    try:
        return adapter_class(lender.adapter).supports_submit
    except AdapterConfigurationError:
        return True  # the attempt records the configuration error where staff see it.


def _submit_without_call(lead_id: int) -> AttemptOutcome:
    """This lender has no submission call: the chosen offer's URL is the redirect (DESIGN §4)."""
    lead = Lead.objects.select_related("chosen_offer").get(pk=lead_id)
    if lead.status != LeadStatus.SUBMITTING or Submission.objects.filter(lead_id=lead_id).exists():
        return AttemptOutcome("skipped", detail=f"the lead is {lead.status}")
    offer = lead.chosen_offer
    if offer is None or not offer.url:
        _lead_fail(lead_id, Capability.SUBMIT, "This lender has no submission call and the offer has no URL.")
        return AttemptOutcome("failed", detail="no offer URL")
    result = SubmissionResult(status="offer_selected", redirect_url=offer.url, lender_reference=lead.lender_reference)
    lead_services.submission_record(lead_id=lead_id, result=result)
    return AttemptOutcome("recorded", detail="offer_selected")


def _lead_fail(lead_id: int, capability: str, message: str) -> None:
    if capability == Capability.PREQUALIFY:
        lead_services.decision_fail(lead_id=lead_id, message=message)
    else:
        lead_services.submission_fail(lead_id=lead_id, message=message)


def _complete(
    call: LenderCall, outcome: str, started: float, adapter: LenderAdapter | None, personal: list[str],
    *, error: str = "", http_status: int | None = None,
) -> None:
    """Fill in the attempt's row: what was sent and received, masked, truncated."""
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
            request_body=mask_and_truncate(_bodies(exchanges, "request_body"), personal, limit),
            response_body=mask_and_truncate(_bodies(exchanges, "response_body"), personal, limit),
        )
    LenderCall.objects.filter(pk=call.pk).update(**fields)
    logger.info(
        "lender call lead=%s lender=%s capability=%s attempt=%s outcome=%s status=%s duration_ms=%s",
        call.lead_id, call.lender_id, call.capability, call.attempt, outcome, fields["http_status"], fields["duration_ms"],
    )


def _bodies(exchanges: list[Exchange], attribute: str) -> str:
    """One exchange: its body. Several (a token call, then the real one): each under its URL."""
    if len(exchanges) == 1:
        return getattr(exchanges[0], attribute)
    return "\n".join(f"--- {e.method} {e.url}\n{getattr(e, attribute)}" for e in exchanges)


def _status(exc: AdapterError) -> int | None:
    return exc.exchange.status if exc.exchange is not None else None


def _failure_text(exc: AdapterError) -> str:
    """The failure in the lender's words: its message, plus any details it does not already say."""
    missing = [detail for detail in exc.details if detail not in exc.message]
    return f"{exc.message} {'; '.join(missing)}".strip()


# --- the sweep ------------------------------------------------------------------------------


def lender_work_sweep() -> int:
    """Re-enqueue journeys waiting on a lender whose task was lost. Returns how many.

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
    if leads:
        logger.warning("lender sweep re-enqueued %s journeys waiting on a lender", len(leads))
    return len(leads)


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
