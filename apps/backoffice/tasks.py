"""The back office's tasks: a bulk retry's batches and the periodic evaluation of alerts. Thin:
ids in, one service call, **kwargs accepted for rolling deploys."""

from celery import shared_task

from apps.backoffice.alerts import alerts_evaluate
from apps.backoffice.bulk_retry import bulk_retries_resume, bulk_retry_batch_run, bulk_retry_next_batch_enqueue


@shared_task(name="apps.backoffice.tasks.bulk_retry_batch", acks_late=True, soft_time_limit=240, time_limit=300)
def bulk_retry_batch(bulk_retry_id: int, **kwargs) -> None:
    if bulk_retry_batch_run(bulk_retry_id=bulk_retry_id):
        bulk_retry_next_batch_enqueue(bulk_retry_id=bulk_retry_id)


@shared_task(name="apps.backoffice.tasks.evaluate_alerts", acks_late=True, soft_time_limit=240, time_limit=300)
def evaluate_alerts(**kwargs) -> None:
    alerts_evaluate()
    bulk_retries_resume()
