"""What an attempt did, and what its task should do next."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.StrEnum):
    RECORDED = "recorded"  # an answer was stored (`detail` is its outcome)
    FAILED = "failed"  # the lead was failed: permanent failure, open circuit, no answer in time, budget spent
    RETRY = "retry"  # try again after `countdown` seconds: a technical failure, or a decision still pending
    SKIPPED = "skipped"  # nothing to do; `detail` says why
    POLL_INSTEAD = "poll_instead"  # the decision is stored as pending: ask about it (never leaves the engine)


@dataclass(frozen=True)
class AttemptOutcome:
    action: Action
    call_id: int | None = None
    countdown: float | None = None
    detail: str = ""

    @property
    def should_retry(self) -> bool:
        return self.action == Action.RETRY


class MissingJourneyData(Exception):
    """The lead lacks what the request needs (no identity, no chosen offer): not worth a retry."""
