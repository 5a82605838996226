"""Lender call tasks: thin wrappers over apps/lenders/services.py, on the `lender_calls` queue.

They take ids only (the broker keeps arguments in clear, so never personal data) and accept
**kwargs so a signature change survives a rolling deploy. The retry budget lives in the
database, not in Celery's retry counter (see services.py), hence `max_retries=None`: every
retry adds a LenderCall row, and the service fails the lead once the lender's budget is spent.

Time limits are set for the prefork pool; the threads pool that serves `lender_calls` ignores
them (STACK-NOTES.md), which is why the HTTP client enforces the per-attempt deadline itself.
"""

from celery import shared_task

from apps.lenders import services

# The longest attempt: a 30 s deadline plus a connect timeout and the bookkeeping around it.
TASK_SOFT_TIME_LIMIT = 50
TASK_TIME_LIMIT = 60


@shared_task(bind=True, max_retries=None, acks_late=True, soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
def lender_prequalify(self, *, lead_id: int, lender_id: int, **kwargs) -> str:
    outcome = services.lender_prequalify_attempt(lead_id=lead_id, lender_id=lender_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(bind=True, max_retries=None, acks_late=True, soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
def lender_submit(self, *, lead_id: int, **kwargs) -> str:
    outcome = services.lender_submit_attempt(lead_id=lead_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
def sweep_due_work(**kwargs) -> int:
    """Periodic (beat_schedule): re-enqueue journeys whose lender task was lost."""
    return services.lender_work_sweep()
