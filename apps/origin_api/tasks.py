"""Tasks of the origins' API, on the `origin_callbacks` queue (prosperas/celery_config.py): never
behind lender calls. Thin: ids in, one service call, `**kwargs` accepted for rolling deploys."""

from celery import shared_task

from apps.origin_api import callbacks
from apps.origin_api.sync_queue import sync_queue_release

TASK = {"acks_late": True, "soft_time_limit": 60, "time_limit": 90}
# A retry sooner than this is scheduled as a countdown; later ones are left to the sweep, which
# the database, not the broker, keeps honest (a countdown held for hours dies with its worker).
COUNTDOWN_MAX_SECONDS = 300


@shared_task(name="apps.origin_api.tasks.sync_origin_lead", **TASK)
def sync_origin_lead(lead_id: int, **kwargs) -> None:
    sync_queue_release(lead_id)  # before reading: a change committed from now on enqueues the next sync
    for delivery_id, result in callbacks.origin_lead_sync(lead_id=lead_id).attempts:
        _schedule_retry(delivery_id, result)


@shared_task(name="apps.origin_api.tasks.deliver_callback", **TASK)
def deliver_callback(delivery_id: int, by_staff: bool = False, **kwargs) -> None:
    _schedule_retry(delivery_id, callbacks.callback_delivery_attempt(delivery_id=delivery_id, by_staff=by_staff))


@shared_task(name="apps.origin_api.tasks.sweep_callbacks", **TASK)
def sweep_callbacks(**kwargs) -> None:
    for lead_id in callbacks.searches_past_deadline():
        sync_origin_lead.delay(lead_id)
    for delivery_id in callbacks.callbacks_due():
        deliver_callback.delay(delivery_id)


def _schedule_retry(delivery_id: int, result: callbacks.AttemptResult) -> None:
    if result.retry_in is not None and result.retry_in <= COUNTDOWN_MAX_SECONDS:
        deliver_callback.apply_async((delivery_id,), countdown=result.retry_in)
