"""A check's result and its evidence, as stored on the run (JSON) and shown in the report."""

from __future__ import annotations

import json

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from apps.lenders.models import LenderCall

PASSED, FAILED, SKIPPED, NOT_APPLICABLE = "passed", "failed", "skipped", "not_applicable"
BODY_LIMIT = 1500

# Every check of a run, in the order the report shows them.
CHECKS = {
    "decision_approved": "Decision: a consumer meant to be approved gets offers",
    "decision_pending": "Decision: a consumer meant to be pending is answered pending",
    "submission": "Submission: the approved journey is submitted with a redirect URL",
    "idempotency": "Idempotency: the same tracking ID twice, the same answer and no second application",
    "rejection_vs_error": "A rejection is a business answer, an error is not a rejection",
    "latency": "Latency: p95 of the decision calls within the target, every answer within our timeout",
    "handoff": "Hand-off URL accepted with click_id, product_id and listing_id",
    "postback_click_id": "Postbacks: click_id echoed byte for byte",
    "postback_signatures": "Postbacks: valid signatures",
    "postback_replay": "Postbacks: fresh nonces, and a replay refused",
    "postback_transitions": "Postbacks: only allowed transitions",
}


@dataclass
class Check:
    name: str
    status: str
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return CHECKS[self.name]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "title": self.title}


def call_evidence(call: LenderCall) -> dict[str, Any]:
    """One stored lender call, as the report shows it: its bodies as stored (masked, truncated)."""
    return {
        "kind": "call", "capability": call.capability, "attempt": call.attempt, "outcome": call.outcome,
        "http_status": call.http_status, "duration_ms": call.duration_ms, "method": call.request_method,
        "url": call.request_url, "request": call.request_body[:BODY_LIMIT], "response": call.response_body[:BODY_LIMIT],
        "error": call.error[:500], "tracking_id": call.lead.tracking_id if call.lead_id else "",
    }


def calls_evidence(lead_id: int) -> list[dict[str, Any]]:
    calls = LenderCall.objects.filter(lead_id=lead_id).select_related("lead").order_by("started_at", "id")
    return [call_evidence(call) for call in calls]


def note(text: str, **values: Any) -> dict[str, Any]:
    return {"kind": "note", "text": text, **values}


def p95(values: list[int]) -> int:
    if len(values) == 1:
        return values[0]
    return int(statistics.quantiles(values, n=20, method="inclusive")[18])


def report_checks(run) -> list[dict[str, Any]]:
    """A run's checks as the report pages show them (admin and the lender portal)."""
    return [{**check, "evidence": [evidence_display(item) for item in check.get("evidence", [])]} for check in run.checks]


def evidence_display(item: dict) -> dict:
    """Evidence as the report shows it: JSON bodies indented (already masked when stored)."""
    shown = dict(item)
    for key in ("request", "response"):
        if shown.get(key):
            try:
                shown[key] = json.dumps(json.loads(shown[key]), indent=2, ensure_ascii=False)
            except ValueError:
                pass
    shown["details"] = {key: value for key, value in item.items() if key not in {"kind", "text", "request", "response"}}
    return shown
