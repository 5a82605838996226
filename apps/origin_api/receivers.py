"""An API lead's journey changed (apps.leads.signals.lead_changed, sent after commit): its sync
is enqueued on the callbacks queue. Only the enqueue happens here; a broker
down at this moment costs a delay, not an event: the sweep syncs searches past their deadline,
and the next change of the lead records whatever this one would have."""

from apps.origin_api.tasks import sync_origin_lead


def lead_changed_sync(sender, *, lead_id: int, **kwargs) -> None:
    sync_origin_lead.delay(lead_id)
