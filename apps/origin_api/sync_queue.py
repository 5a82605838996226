"""At most one queued sync per API lead: changes that come while one waits in the queue ride on it.

A sync reads the lead as it is when it runs (callbacks.origin_lead_sync), so a sync still in the
queue will tell of every change committed before it starts. When a lead changes, its sync is
enqueued only if none is waiting (a key in the shared cache, added atomically); the task removes
the key as it starts, before it reads, so a change committed after that enqueues the next one.
Under a burst, when the callbacks queue grows, a lead's two lenders' answers and its status
moves then cost one sync and its callbacks instead of three, and an origin hears the latest
status rather than each one it passed through (each lender's outcome is still its own event).

The key expires after QUEUED_SECONDS, should its task be lost with a broker; the cache
unreachable, every change enqueues its sync as before. Keys name the database, for deployments
(and test runs) that share one Redis.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

QUEUED_SECONDS = 30


def _key(lead_id: int) -> str:
    return f"origin-sync-queued:{connection.settings_dict['NAME']}:{lead_id}"


def sync_queue_claim(lead_id: int) -> bool:
    """True when this change must enqueue the lead's sync (none is waiting)."""
    try:
        return cache.add(_key(lead_id), 1, timeout=QUEUED_SECONDS)
    except (RedisError, OSError) as exc:
        logger.warning("A sync is enqueued without checking for a queued one: the cache is unreachable (%s).",
                       type(exc).__name__)
        return True


def sync_queue_release(lead_id: int) -> None:
    """The lead's queued sync starts (or could not be enqueued): the next change enqueues another."""
    try:
        cache.delete(_key(lead_id))
    except (RedisError, OSError) as exc:
        logger.warning("A queued sync's mark stays until it expires: the cache is unreachable (%s).",
                       type(exc).__name__)
