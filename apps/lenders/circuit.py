"""Each lender's circuit breaker: closed (calls go out), open (no call is made: the journey
fails at once, no consumer waits on a dead API), half-open (one probe decides).

Calls feed it (`lender_circuit_observe`, from apps/lenders/calls.py); the periodic sweep probes
open circuits whose cool-down has passed (`lender_circuits_probe`); staff can force it
(`lender_circuit_force`, from admin). Thresholds are the LENDER_CIRCUIT_* settings.

Only an answer of the capability closes a circuit: the probe's decision, parsed as a consumer's
would be, or a real call's result while half-open. Any HTTP answer is not enough (a lender once
answered 404 to a GET while every decision request failed with a 500).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.lenders.adapters.base import AdapterConfigurationError, DecisionResult, PermanentFailure, TechnicalFailure
from apps.lenders.config import adapter_for
from apps.lenders.models import CircuitChange, CircuitState, Lender, LenderCall
from apps.lenders.selectors import lender_recent_outcomes
from prosperas.db import database_released

logger = logging.getLogger(__name__)


def _circuit_settings() -> dict[str, float]:
    return {
        "window_calls": getattr(settings, "LENDER_CIRCUIT_WINDOW_CALLS", 20),
        "window_seconds": getattr(settings, "LENDER_CIRCUIT_WINDOW_SECONDS", 300),
        "min_calls": getattr(settings, "LENDER_CIRCUIT_MIN_CALLS", 10),
        "failure_ratio": getattr(settings, "LENDER_CIRCUIT_FAILURE_RATIO", 0.5),
        "cooldown_seconds": getattr(settings, "LENDER_CIRCUIT_COOLDOWN_SECONDS", 30),
    }


def _circuit_move(lender: Lender, *, from_states: set[str], to: str, note: str, held_open: bool | None = None) -> bool:
    fields: dict[str, Any] = {"circuit_state": to, "circuit_changed_at": timezone.now(), "circuit_note": note[:512]}
    if held_open is not None:
        fields["circuit_held_open"] = held_open
    moved = Lender.objects.filter(pk=lender.pk, circuit_state__in=from_states).update(**fields)
    if moved:
        # The state this process last saw: the UPDATE above moved it from one of from_states.
        CircuitChange.objects.create(lender=lender, from_state=lender.circuit_state, to_state=to,
                                     note=fields["circuit_note"], changed_at=fields["circuit_changed_at"])
        for name, value in fields.items():
            setattr(lender, name, value)
        logger.warning("lender %s circuit -> %s: %s", lender.code, to, note)
    return bool(moved)


def lender_circuit_observe(*, lender: Lender, outcome: str) -> None:
    """After each call, by its LenderCall outcome: a half-open circuit closes on a result
    (a decision or a submission) and opens again on a technical failure; a permanent failure (a
    4xx: our data refused, a wrong path) proves nothing either way and leaves it half-open. A
    closed one opens when, over its recent calls, technical failures (timeouts included) reach
    the threshold (LENDER_CIRCUIT_* settings: at least `min_calls` of the last `window_calls`
    within `window_seconds`, with a failure ratio of `failure_ratio` or more)."""
    state = lender.circuit_state
    if outcome == LenderCall.Outcome.PERMANENT_FAILURE:
        return
    if outcome != LenderCall.Outcome.TECHNICAL_FAILURE:
        if state == CircuitState.HALF_OPEN and not lender.circuit_held_open:
            _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.CLOSED,
                          note=f"a call was answered ({outcome}) while probing")
        return
    if state == CircuitState.HALF_OPEN:
        _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.OPEN, note="a call failed while probing")
        return
    if state != CircuitState.CLOSED:
        return
    rules = _circuit_settings()
    outcomes = lender_recent_outcomes(
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

    The circuit goes half-open and the lender's adapter probes it (`LenderAdapter.probe`, no
    consumer involved: by default a decision request for a made-up consumer). Only a decision that
    parses as the capability's answer closes the circuit; a technical failure (timeout, reset,
    5xx, 429, a body that is not the answer), a 4xx or a configuration error opens it again for
    another cool-down, and the note says why. Returns how many lenders were probed.
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
        answered, note = _probe(lender)
        _circuit_move(lender, from_states={CircuitState.HALF_OPEN}, to=CircuitState.CLOSED if answered else CircuitState.OPEN,
                      note=note)
    return probed


def _probe(lender: Lender) -> tuple[bool, str]:
    """Whether the lender's probe was answered with the capability's answer, and the note saying so."""
    try:
        adapter = adapter_for(lender)
        with database_released():
            result = adapter.probe()
    except TechnicalFailure as exc:
        return False, f"probe failed: {exc.message}"
    except PermanentFailure as exc:
        return False, f"probe refused: {exc.message}"
    except AdapterConfigurationError as exc:
        return False, f"probe cannot run: {exc}"
    except Exception as exc:  # an adapter bug proves nothing about the lender: stay open, loudly
        logger.exception("probe of lender %s raised", lender.code)
        return False, f"probe failed: unexpected {type(exc).__name__} in the adapter"
    if not isinstance(result, DecisionResult):
        return False, f"probe failed: the adapter's probe gave {type(result).__name__}, not a decision"
    return True, f"probe answered with a decision ({result.decision}); circuit closed"
