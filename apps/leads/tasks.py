"""Tasks of the leads app: the journey's lender calls (on the `lender_calls` queue) and telling
consumers about their application. Thin: ids in (the broker keeps arguments in clear, so never
personal data), one service call, `**kwargs` accepted so a signature change survives a rolling
deploy.

The lender tasks keep the names they were registered under before the engine moved into this
app (apps/leads/enqueue.py), so messages queued during a deploy still run. Their retry budget
lives in the database, not in Celery's retry counter (apps/leads/engine/), hence
`max_retries=None`: every retry adds a LenderCall row, and the engine fails the lead once the
lender's budget is spent. Time limits are set for the prefork pool; the threads pool that
serves `lender_calls` ignores them (STACK-NOTES.md), which is why the HTTP client enforces the
per-attempt deadline itself.

A lender task holds a database connection only while it uses the database: Django gives it back
to the process's pool when the task ends, and the engine gives it back before every wait on a
lender (prosperas/db.py), so a hundred threads share a few connections.
"""

from celery import shared_task

from apps.leads import enqueue
from apps.leads.engine.attempt import lender_poll_attempt, lender_prequalify_attempt, lender_submit_attempt
from apps.leads.engine.sweep import lender_work_sweep
from apps.leads.models import LeadNotification
from apps.leads.notifications import lead_notifications_due, lead_status_notify
from apps.leads.revocation import revocation_notice_send, revocation_notices_due

# The longest attempt: a 30 s deadline plus a connect timeout and the bookkeeping around it.
TASK_SOFT_TIME_LIMIT = 50
TASK_TIME_LIMIT = 60
LENDER_TASK = {"bind": True, "max_retries": None, "acks_late": True, "soft_time_limit": TASK_SOFT_TIME_LIMIT,
               "time_limit": TASK_TIME_LIMIT}
# Mail servers have bad minutes: retry for about a quarter of an hour, then leave the failed
# row for staff (the lead's admin page lists its notifications).
NOTIFY_MAX_RETRIES = 5
NOTIFY_RETRY_SECONDS = 30
# A pending notification this old lost its task.
NOTIFY_SWEEP_AFTER_SECONDS = 600


@shared_task(name=enqueue.LENDER_PREQUALIFY, **LENDER_TASK)
def lender_prequalify(self, *, lead_id: int, lender_id: int | None = None, **kwargs) -> str:
    outcome = lender_prequalify_attempt(lead_id=lead_id, lender_id=lender_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(name=enqueue.LENDER_POLL, **LENDER_TASK)
def lender_poll(self, *, lead_id: int, lender_id: int, **kwargs) -> str:
    """Ask about a pending decision; reschedules itself while it stays pending (until it times out)."""
    outcome = lender_poll_attempt(lead_id=lead_id, lender_id=lender_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(name=enqueue.LENDER_SUBMIT, **LENDER_TASK)
def lender_submit(self, *, lead_id: int, **kwargs) -> str:
    outcome = lender_submit_attempt(lead_id=lead_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(name="apps.lenders.tasks.sweep_due_work", soft_time_limit=TASK_SOFT_TIME_LIMIT, time_limit=TASK_TIME_LIMIT)
def sweep_due_work(**kwargs) -> int:
    """Periodic (beat_schedule): re-enqueue lender work whose task was lost; probe open circuits."""
    return lender_work_sweep()


@shared_task(name=enqueue.LEAD_STATUS_NOTIFY, bind=True, max_retries=NOTIFY_MAX_RETRIES, soft_time_limit=60,
             time_limit=90, acks_late=True)
def lead_status_notify_task(self, *, lead_id: int, status: str, **kwargs) -> str | None:
    notification = lead_status_notify(lead_id=lead_id, status=status)
    if notification is not None and notification.state == LeadNotification.State.FAILED:
        raise self.retry(countdown=NOTIFY_RETRY_SECONDS * 2 ** self.request.retries)
    return notification.state if notification else None


@shared_task(name=enqueue.REVOCATION_NOTICE_SEND, **LENDER_TASK)
def revocation_notice_send_task(self, *, notice_id: int, **kwargs) -> str:
    """Tell a lender through its API that the consumer revoked their consent (apps/leads/revocation.py)."""
    outcome = revocation_notice_send(notice_id=notice_id)
    if outcome.should_retry:
        raise self.retry(countdown=outcome.countdown)
    return outcome.action


@shared_task(soft_time_limit=60, time_limit=90)
def sweep_pending_notifications(**kwargs) -> int:
    """Re-enqueue notifications whose task was lost, and revocations still to tell a lender's API.
    Beat runs it every few minutes."""
    due = lead_notifications_due(older_than_seconds=NOTIFY_SWEEP_AFTER_SECONDS)
    for lead_id, status in due:
        lead_status_notify_task.delay(lead_id=lead_id, status=status)
    revocations = revocation_notices_due(older_than_seconds=NOTIFY_SWEEP_AFTER_SECONDS)
    for notice_id in revocations:
        revocation_notice_send_task.delay(notice_id=notice_id)
    return len(due) + len(revocations)
