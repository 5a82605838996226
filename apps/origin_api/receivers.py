"""An API lead's journey changed (apps.leads.signals.lead_changed, sent after commit): its sync
is enqueued on the callbacks queue, unless one is already waiting there, which will read this
change too (sync_queue.py). Only the enqueue happens here; a broker down at this moment costs a
delay, not an event: the sweep syncs searches past their deadline, and the next change of the
lead records whatever this one would have."""

from apps.origin_api.sync_queue import sync_queue_claim, sync_queue_release
from apps.origin_api.tasks import sync_origin_lead


def lead_changed_sync(sender, *, lead_id: int, **kwargs) -> None:
    if not sync_queue_claim(lead_id):
        return
    try:
        sync_origin_lead.delay(lead_id)
    except Exception:
        sync_queue_release(lead_id)  # not queued: the next change must try again
        raise
