"""The postback endpoint's metrics (prosperas/metrics.py): every answer by lender, outcome and
reason. Outcomes: `accepted` (reason: the event's effect on its lead — applied, no_change,
contradicts), `unmatched` (recorded for reconciliation, 404) and `refused` (reason: the error
code of the answer — bad_signature, validation_error, payload_too_large ...). The lender is
empty when the request named none that authenticated."""

from __future__ import annotations

from apps.lenders.models import Lender
from prosperas.metrics import counter

POSTBACKS = counter("postbacks", "Postback requests answered, by lender, outcome and reason.",
                    ["lender", "outcome", "reason"])


def postback_observe(*, lender: Lender | None, outcome: str, reason: str) -> None:
    POSTBACKS.labels(lender.code if lender is not None else "", outcome, reason).inc()
