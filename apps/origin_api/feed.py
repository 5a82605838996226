"""The event feed, GET /api/v1/events?cursor=…: an origin's events in one environment (status
changes and lenders' outcomes, as their callbacks carried them), in commit order, paged by an
opaque cursor. Pages follow `OriginEvent.sequence`, which is given in commit order
(apps.origin_api.rows), so paging from any cursor yields every event after it exactly once,
whatever commits concurrently: an origin can rebuild its view from the start at any time.

The cursor is the last sequence served, signed (so a cursor cannot be forged into another
position) and base64url-encoded; origins store it and send it back, never parse it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.core import signing

from apps.origin_api.models import OriginEvent
from apps.origin_api.rows import events_sequence

CURSOR_SALT = "apps.origin_api.feed.cursor"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class CursorInvalid(ValueError):
    pass


def cursor_encode(sequence: int) -> str:
    signed = signing.Signer(salt=CURSOR_SALT).sign(str(sequence))
    return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> int:
    try:
        signed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(signing.Signer(salt=CURSOR_SALT).unsign(signed))
    except (ValueError, UnicodeDecodeError, signing.BadSignature):
        raise CursorInvalid("This cursor was not given by this feed.") from None


@dataclass(frozen=True)
class FeedPage:
    events: list[OriginEvent]
    next_cursor: str  # after the last event served; the cursor given when there was none
    has_more: bool


def origin_events_page(*, origin, environment: str, cursor: str | None, limit: int = DEFAULT_LIMIT) -> FeedPage:
    """The origin's next events after `cursor` (from the first without one). Numbers the events
    committed so far first, so a page reflects every commit before the request."""
    after = cursor_decode(cursor) if cursor else 0
    events_sequence()
    rows = list(OriginEvent.objects.filter(origin=origin, environment=environment, sequence__gt=after)
                .order_by("sequence")[:limit + 1])
    events = rows[:limit]
    last = events[-1].sequence if events else after
    return FeedPage(events=events, next_cursor=cursor_encode(last), has_more=len(rows) > limit)
