"""Lender call tasks: thin wrappers over apps/lenders/services.py, on the `lender_calls` queue.

They take ids only (the broker keeps arguments in clear, so never personal data) and accept
**kwargs so a signature change survives a rolling deploy. The retry budget lives in the
database, not in Celery's retry counter (see services.py), hence `max_retries=None`: every
retry adds a LenderCall row, and the service fails the lead once the lender's budget is spent.

Time limits are set for the prefork pool; the threads pool that serves `lender_calls` ignores
them (STACK-NOTES.md), which is why the HTTP client enforces the per-attempt deadline itself.

Each task runs in one of the worker process's database slots and gives its connection back when
it ends, and the services give both back while waiting on a lender (apps/lenders/db.py): a pool
of a hundred threads stays within a bounded number of PostgreSQL connections.
"""

from collections.abc import Callable
from functools import wraps

from celery import shared_task

from apps.lenders import services
from apps.lenders.db import database_slot

# The longest attempt: a 30 s deadline plus a connect timeout and the bookkeeping around it.
TASK_SOFT_TIME_LIMIT = 50
TASK_TIME_LIMIT = 60


def _connection_released(function: Callable) -> Callable:
    @wraps(function)
    def wrapper(*args, **kwargs):
        with database_slot():
            return function(*args, **kwargs)

    return wrapper


@shared_task(bind=True, max_retries=None, acks_late=True, soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
@_connection_released
def lender_prequalify(self, *, lead_id: int, lender_id: int | None = None, **kwargs) -> str:
    outcome = services.lender_prequalify_attempt(lead_id=lead_id, lender_id=lender_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(bind=True, max_retries=None, acks_late=True, soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
@_connection_released
def lender_poll(self, *, lead_id: int, lender_id: int, **kwargs) -> str:
    """Ask about a pending decision; reschedules itself while it stays pending (until it times out)."""
    outcome = services.lender_poll_attempt(lead_id=lead_id, lender_id=lender_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(bind=True, max_retries=None, acks_late=True, soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
@_connection_released
def lender_submit(self, *, lead_id: int, **kwargs) -> str:
    outcome = services.lender_submit_attempt(lead_id=lead_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
@_connection_released
def sweep_due_work(**kwargs) -> int:
    """Periodic (beat_schedule): re-enqueue lender work whose task was lost; probe open circuits."""
    return services.lender_work_sweep()
