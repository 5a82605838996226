"""A journey changed (apps.leads.signals.lead_changed, sent after commit): if it is an origin's
API lead, its sync is enqueued on the callbacks queue. Only the enqueue happens here; a broker
down at this moment costs a delay, not an event: the sweep syncs searches past their deadline,
and the next change of the lead records whatever this one would have."""

from apps.origin_api.models import OriginLead
from apps.origin_api.tasks import sync_origin_lead


def lead_changed_sync(sender, *, lead_id: int, **kwargs) -> None:
    if OriginLead.objects.filter(lead_id=lead_id).exists():
        sync_origin_lead.delay(lead_id)
