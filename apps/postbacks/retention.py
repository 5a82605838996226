"""What the postbacks app keeps for a limited time (prosperas/retention.py; README "Data life cycle").

A postback event's raw request (body, headers, nonce) and its free-form `metadata` are blanked
after RETENTION_POSTBACK_BODIES_DAYS. The event itself stays, with every contract field it was
recorded with (click_id, status, event_id, amount, reason, lender_reference, its effect and
`is_repeat`): it is the lead's history and what billing and reports count, and the ledger
charges it set off point at its lead. An old nonce is safe to forget: a replay that old is
refused by its timestamp.
"""

from datetime import datetime

from django.db.models import QuerySet

from apps.postbacks.models import PostbackEvent
from prosperas.retention import Purge, retention_days


def postback_bodies_due(cutoff: datetime) -> QuerySet:
    # Events still to follow up are left until done: what they set off is not finished.
    return (PostbackEvent.objects.filter(received_at__lt=cutoff, followed_up_at__isnull=False)
            .exclude(raw_body=b"", headers={}, nonce="", metadata={}))


PURGES = [
    Purge(kind="postback_bodies", action="blank", model=PostbackEvent,
          description="postback events' raw body, headers, nonce and metadata (the event itself kept)",
          due=postback_bodies_due, apply=lambda rows: rows.update(raw_body=b"", headers={}, nonce="", metadata={}),
          retention=retention_days("postback_bodies")),
]
