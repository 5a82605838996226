"""Tasks of the leads app: telling consumers about their application. Ids in, nothing personal."""

from celery import shared_task

from apps.leads.models import LeadNotification
from apps.leads.notifications import lead_notifications_due, lead_status_notify

# Mail servers have bad minutes: retry for about a quarter of an hour, then leave the failed
# row for staff (the lead's admin page lists its notifications).
NOTIFY_MAX_RETRIES = 5
NOTIFY_RETRY_SECONDS = 30
# A pending notification this old lost its task.
NOTIFY_SWEEP_AFTER_SECONDS = 600


@shared_task(bind=True, max_retries=NOTIFY_MAX_RETRIES, soft_time_limit=60, time_limit=90, acks_late=True)
def lead_status_notify_task(self, *, lead_id: int, status: str, **kwargs) -> str | None:
    notification = lead_status_notify(lead_id=lead_id, status=status)
    if notification is not None and notification.state == LeadNotification.State.FAILED:
        raise self.retry(countdown=NOTIFY_RETRY_SECONDS * 2 ** self.request.retries)
    return notification.state if notification else None


@shared_task(soft_time_limit=60, time_limit=90)
def sweep_pending_notifications(**kwargs) -> int:
    """Re-enqueue notifications whose task was lost. Beat runs it every few minutes."""
    due = lead_notifications_due(older_than_seconds=NOTIFY_SWEEP_AFTER_SECONDS)
    for lead_id, status in due:
        lead_status_notify_task.delay(lead_id=lead_id, status=status)
    return len(due)
