"""The log stays readable with a periodic task every couple of seconds."""

import logging

import pytest

from prosperas.logging_filters import QuietFollowUps

TASK = "apps.postbacks.tasks.follow_up_postbacks[5c1e]"


def record(name: str, message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize("line", [
    record("celery.beat", "Scheduler: Sending due task follow-up-postbacks (apps.postbacks.tasks.follow_up_postbacks)"),
    record("celery.worker.strategy", f"Task {TASK} received"),
    record("celery.app.trace", f"Task {TASK} succeeded in 0.0019017720001102134s: 0"),
], ids=["beat", "received", "nothing_done"])
def test_follow_up_runs_that_did_nothing_are_not_logged(line):
    assert QuietFollowUps().filter(line) is False


@pytest.mark.parametrize("line", [
    record("celery.app.trace", f"Task {TASK} succeeded in 0.02s: 3"),
    record("celery.app.trace", f"Task {TASK} raised unexpected: OperationalError()", logging.ERROR),
    record("celery.worker.strategy", "Task apps.lenders.tasks.lender_prequalify[77a1] received"),
    record("apps.postbacks.services", "postback refused: reason=bad_signature lender=x ip=127.0.0.1"),
], ids=["work_done", "error", "other_task", "other_logger"])
def test_everything_else_is_logged(line):
    assert QuietFollowUps().filter(line) is True
