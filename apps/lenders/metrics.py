"""The lender calls' metrics (prosperas/metrics.py): each attempt's latency by lender,
capability and outcome, and the retries among them. Recorded where an attempt's row is
completed (calls.py), once per attempt, in whichever process made the call."""

from __future__ import annotations

from apps.lenders.models import Lender, LenderCall
from prosperas.metrics import counter, histogram

LENDER_CALL_SECONDS = histogram(
    "lender_call_duration_seconds", "Lender call attempts: time from sending to the answer (or the failure).",
    ["lender", "capability", "outcome"],
)
LENDER_CALL_RETRIES = counter(
    "lender_call_retries", "Lender call attempts that were retries (attempt 2 or later) of the same work.",
    ["lender", "capability"],
)


def lender_call_observe(*, call: LenderCall, lender: Lender, outcome: str, duration_ms: int) -> None:
    LENDER_CALL_SECONDS.labels(lender.code, call.capability, outcome).observe(duration_ms / 1000)
    if call.attempt > 1:
        LENDER_CALL_RETRIES.labels(lender.code, call.capability).inc()
