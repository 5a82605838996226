"""The purge of every kind of data past its retention, and its dry run.

The purges are declared by the apps that own the tables (`apps/<app>/retention.py`); this module
orders and runs them. Blanking comes before deleting, so a row blanked and then deleted with its
lead is counted once under each purge, as the dry run said.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.leads import retention as leads_retention
from apps.lenders import retention as lenders_retention
from apps.postbacks import retention as postbacks_retention
from prosperas.retention import Purge, purge_batch_apply, purge_batches

logger = logging.getLogger(__name__)

PURGES: list[Purge] = [*postbacks_retention.PURGES, *lenders_retention.PURGES, *leads_retention.PURGES]
# One daily run at a time: a redelivered or overlapping task waits for the next day.
LOCK_KEY = "lifecycle:purge-running"
LOCK_SECONDS = 6 * 3600

OnBatch = Callable[[Purge, list], None]


@dataclass
class PurgeResult:
    purge: Purge
    cutoff: datetime | None
    count: int = 0
    seconds: float = 0.0


def data_purge_plan(*, now: datetime, batch_size: int | None = None, on_batch: OnBatch | None = None) -> list[PurgeResult]:
    """The dry run: what `data_purge(now=now)` would act on, counted (and each batch passed to `on_batch`)."""
    results = []
    for purge in PURGES:
        result, started = PurgeResult(purge=purge, cutoff=purge.cutoff(now)), time.monotonic()
        for pks in purge_batches(purge, now=now, batch_size=batch_size or settings.RETENTION_BATCH_SIZE):
            result.count += len(pks)
            if on_batch:
                on_batch(purge, pks)
        result.seconds = time.monotonic() - started
        results.append(result)
    return results


def data_purge(*, now: datetime, batch_size: int | None = None, on_batch: OnBatch | None = None) -> list[PurgeResult]:
    """Delete, blank or anonymise every row past its retention at `now`, batch by batch, each
    batch its own short transaction."""
    results = []
    for purge in PURGES:
        result, started = PurgeResult(purge=purge, cutoff=purge.cutoff(now)), time.monotonic()
        for pks in purge_batches(purge, now=now, batch_size=batch_size or settings.RETENTION_BATCH_SIZE):
            done = purge_batch_apply(purge, pks, now=now)
            result.count += len(done)
            if on_batch and done:
                on_batch(purge, done)
        result.seconds = time.monotonic() - started
        if result.count:
            logger.info("retention: %s %d %s (%s) older than %s in %.1f s", purge.action, result.count, purge.label,
                        purge.kind, result.cutoff.isoformat(), result.seconds)
        results.append(result)
    return results


def data_purge_scheduled() -> list[PurgeResult] | None:
    """The daily run (beat): the purge as of now, unless another run holds the lock."""
    if not cache.add(LOCK_KEY, "1", LOCK_SECONDS):
        logger.info("retention: a purge is already running; this run does nothing")
        return None
    try:
        return data_purge(now=timezone.now())
    finally:
        cache.delete(LOCK_KEY)
