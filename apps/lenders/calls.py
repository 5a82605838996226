"""One call to a lender, recorded before and after: the LenderCall row, the HTTP through the
lender's adapter, the masked exchange, and the circuit breaker's view of how it went.

The caller (the journey engine, apps/leads/engine/) decides whether a call is due and what to
do with its answer; this module only knows a lender, a capability, a frozen request and the
journey's id the row belongs to. It never reads a journey. A call:

1. is opened (`lender_call_open`) inside the caller's transaction, after the caller has locked
   the work: refused if the lender's circuit is open or another attempt is still in flight
   (its lease held by a live worker, apps/lenders/leases.py), else a LenderCall row in flight,
   with its lease, is created before any HTTP is sent;
2. is sent (`lender_call_send`): the database connection is given back while the lender takes
   its time (prosperas/db.py), the process's lease keeper renews the call's lease meanwhile,
   the adapter enforces a hard deadline (apps/lenders/http.py), and the row is completed with
   the duration, status, outcome and masked, truncated bodies.
   The answer comes back typed (DecisionResult, SubmissionResult), or a `CallFailed` says
   whether the failure was technical (retry) or permanent (don't), in the lender's own words.
"""

from __future__ import annotations

import enum
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from apps.lenders import rows
from apps.lenders.adapters.base import (
    AdapterConfigurationError,
    AdapterError,
    DecisionResult,
    LenderAdapter,
    PermanentFailure,
    RevocationResult,
    TechnicalFailure,
)
from apps.lenders.circuit import lender_circuit_observe
from apps.lenders.config import adapter_for, deadline_seconds, idempotency_key
from apps.lenders.http import Exchange
from apps.lenders.leases import WORKER_LOST, keeper, lease_until
from apps.lenders.masking import mask_text, mask_values, truncate
from apps.lenders.metrics import lender_call_observe
from apps.lenders.models import CircuitState, Lender, LenderCall
from apps.lenders.rows import EarlierCall
from prosperas.db import database_released
from prosperas.sql import update_by_pk

logger = logging.getLogger(__name__)

# An in-flight call older than its deadline plus this margin belongs to a worker that died, lease
# or not (apps/lenders/leases.py: a worker's lease usually says so much sooner).
IN_FLIGHT_GRACE_SECONDS = 10.0

Answer = TypeVar("Answer")


class CallRefused(enum.Enum):
    """Why no call was opened."""

    CIRCUIT_OPEN = "the lender's circuit is open"
    IN_FLIGHT = "another attempt is in flight"


class FailureKind(enum.StrEnum):
    TECHNICAL = "technical"  # timeout, connection error, 5xx, 429, unreadable answer: retried
    PERMANENT = "permanent"  # refused credentials, our data invalid, a configuration error: not retried


class CallFailed(Exception):
    """A call that produced no usable answer; the row is already completed."""

    def __init__(self, kind: FailureKind, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def technical(self) -> bool:
        return self.kind == FailureKind.TECHNICAL


def lender_call_open(*, lender: Lender, lead_id: int, capability: str, tracking_id: str) -> LenderCall | CallRefused:
    """The new in-flight LenderCall, or why none may be made. Run it in the caller's transaction,
    once the caller holds the lock on the work: two attempts at one piece of work then see each
    other's rows."""
    if lender.circuit_state == CircuitState.OPEN:
        return CallRefused.CIRCUIT_OPEN
    now = timezone.now()
    earlier = rows.lender_calls_earlier(lead_id=lead_id, lender_id=lender.pk, capability=capability)
    in_flight = [call for call in earlier if call.outcome == LenderCall.Outcome.IN_FLIGHT]
    if any(_alive(call, lender, now) for call in in_flight):
        return CallRefused.IN_FLIGHT
    if in_flight:  # left by a worker that died mid-call: its lease ran out
        LenderCall.objects.filter(pk__in=[call.id for call in in_flight]).update(
            outcome=LenderCall.Outcome.TECHNICAL_FAILURE, finished_at=now, error=WORKER_LOST,
        )
    return LenderCall.objects.create(
        lender=lender, lead_id=lead_id, capability=capability, started_at=now, attempt=len(earlier) + 1,
        idempotency_key=idempotency_key(tracking_id, capability), lease_expires_at=lease_until(now),
    )


def _alive(call: EarlierCall, lender: Lender, now: datetime) -> bool:
    """Whether an earlier call in flight may still be with a live worker: its lease holds (the
    worker renews it while it waits on the lender), and it is not older than any attempt can
    last. A row with no lease (opened before leases) is judged by its age alone."""
    within_deadline = call.started_at > now - timedelta(seconds=deadline_seconds(lender) + IN_FLIGHT_GRACE_SECONDS)
    return within_deadline and (call.lease_expires_at is None or call.lease_expires_at > now)


def lender_call_send(
    *, call: LenderCall, lender: Lender, send: Callable[[LenderAdapter], Answer], personal: Sequence[str] = (),
) -> Answer:
    """Send the call through the lender's adapter (`send` makes the one adapter call), complete
    its row and feed the circuit breaker. `personal` are the consumer's values to mask wherever
    they appear in what is stored."""
    started = time.monotonic()
    adapter: LenderAdapter | None = None
    try:
        adapter = adapter_for(lender)
        with database_released(), keeper.held(call.pk):
            answer = send(adapter)
    except AdapterConfigurationError as exc:
        raise _failed(call, lender, started, adapter, personal, FailureKind.PERMANENT, str(exc)) from exc
    except PermanentFailure as exc:
        raise _failed(call, lender, started, adapter, personal, FailureKind.PERMANENT, failure_text(exc),
                      http_status=_status(exc)) from exc
    except TechnicalFailure as exc:
        raise _failed(call, lender, started, adapter, personal, FailureKind.TECHNICAL, exc.message,
                      http_status=_status(exc), retry_after=exc.retry_after) from exc
    except Exception as exc:  # An adapter bug: recorded and retried like a technical failure.
        logger.error("lender call %s raised %s\n%s", call.pk, type(exc).__name__,
                     "".join(traceback.format_tb(exc.__traceback__)))
        raise _failed(call, lender, started, adapter, personal, FailureKind.TECHNICAL,
                      f"Unexpected {type(exc).__name__} in the adapter.") from exc
    if isinstance(answer, DecisionResult):
        outcome = str(answer.decision)
    elif isinstance(answer, RevocationResult):
        outcome = LenderCall.Outcome.REVOKED
    else:
        outcome = LenderCall.Outcome.SUBMITTED
    _complete(call, lender, outcome, started, adapter, personal)
    return answer


def lender_call_abandon(*, call: LenderCall, lender: Lender, message: str, personal: Sequence[str] = ()) -> CallFailed:
    """Complete an opened call that could not be sent (the journey lacks what the request needs):
    a permanent failure, with nothing exchanged."""
    return _failed(call, lender, time.monotonic(), None, personal, FailureKind.PERMANENT, message)


def _failed(
    call: LenderCall, lender: Lender, started: float, adapter: LenderAdapter | None, personal: Sequence[str],
    kind: FailureKind, message: str, *, http_status: int | None = None, retry_after: float | None = None,
) -> CallFailed:
    message = mask_values(message, list(personal))
    outcome = LenderCall.Outcome.TECHNICAL_FAILURE if kind == FailureKind.TECHNICAL else LenderCall.Outcome.PERMANENT_FAILURE
    _complete(call, lender, outcome, started, adapter, personal, error=message, http_status=http_status)
    return CallFailed(kind, message, retry_after=retry_after)


def _complete(
    call: LenderCall, lender: Lender, outcome: str, started: float, adapter: LenderAdapter | None,
    personal: Sequence[str], *, error: str = "", http_status: int | None = None,
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
            request_url=mask_values(last.url, list(personal))[:1000],
            request_body=truncate(_bodies(exchanges, "request_body", personal), limit),
            response_body=truncate(_bodies(exchanges, "response_body", personal), limit),
        )
    update_by_pk(LenderCall, call.pk, fields)
    lender_call_observe(call=call, lender=lender, outcome=outcome, duration_ms=fields["duration_ms"])
    logger.info(
        "lender call lead=%s lender=%s capability=%s attempt=%s outcome=%s status=%s duration_ms=%s",
        call.lead_id, call.lender_id, call.capability, call.attempt, outcome, fields["http_status"], fields["duration_ms"],
    )
    if last is not None:  # no HTTP sent (a configuration error) says nothing about the lender's health
        lender_circuit_observe(lender=lender, outcome=outcome)


def _bodies(exchanges: list[Exchange], attribute: str, personal: Sequence[str]) -> str:
    """One exchange: its body, masked. Several (a token call, then the real one): each masked on
    its own (so each JSON body is masked by key too), then listed under its URL."""
    values = list(personal)
    if len(exchanges) == 1:
        return mask_text(getattr(exchanges[0], attribute), values)
    return "\n".join(
        f"--- {e.method} {mask_values(e.url, values)}\n{mask_text(getattr(e, attribute), values)}" for e in exchanges
    )


def _status(exc: AdapterError) -> int | None:
    return exc.exchange.status if exc.exchange is not None else None


def failure_text(exc: AdapterError) -> str:
    """The failure in the lender's words: its message, plus any details it does not already say."""
    missing = [detail for detail in exc.details if detail not in exc.message]
    return f"{exc.message} {'; '.join(missing)}".strip()
