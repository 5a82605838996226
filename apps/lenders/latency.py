"""Latency buckets: how the call statistics' rollup (apps/lenders/call_spans.py) keeps a
histogram of call durations whose percentiles add up across hours and days.

Below EXACT_BELOW ms each millisecond is its own bucket. From there on each bucket is GROWTH (4 %)
wider than the one before, anchored so that a bucket begins exactly above the 5 s target: a call
of 5,000 ms and one of 5,001 ms fall on either side, so "p95 within the target" read off the
buckets is exactly what it is on the calls themselves. A percentile read off the buckets is the
bucket's geometric middle: within 2 % of the true value.
"""

from __future__ import annotations

import math

from django.db.models import Func, IntegerField

EXACT_BELOW = 50
GROWTH = 1.04
# The first bucket of calls slower than the target (seed 001: p95 under 5 s).
TARGET_MS = 5000
_ANCHOR = TARGET_MS + 1
_ANCHOR_BUCKET = EXACT_BELOW + math.ceil(math.log(_ANCHOR / EXACT_BELOW) / math.log(GROWTH))  # 168
LAST = _ANCHOR_BUCKET + math.ceil(math.log(300_000 / _ANCHOR) / math.log(GROWTH))  # 5 minutes and more
BUCKETS = LAST + 1


class LatencyBucket(Func):
    """The bucket of a duration in ms, in SQL (NULL stays NULL)."""

    template = (
        # LEAST and GREATEST skip NULLs: a call with no duration is kept out first.
        f"CASE WHEN %(expressions)s IS NULL THEN NULL "
        f"WHEN %(expressions)s < {EXACT_BELOW} THEN GREATEST(%(expressions)s, 0) "
        f"ELSE LEAST({_ANCHOR_BUCKET} + FLOOR(LN(%(expressions)s / {_ANCHOR}.0) / LN({GROWTH}))::integer, {LAST}) END"
    )
    output_field = IntegerField()


def bucket_of(duration_ms: int) -> int:
    """The same as LatencyBucket, in Python."""
    if duration_ms < EXACT_BELOW:
        return max(duration_ms, 0)
    return min(_ANCHOR_BUCKET + math.floor(math.log(duration_ms / _ANCHOR) / math.log(GROWTH)), LAST)


def bucket_value(bucket: int) -> int:
    """The duration a bucket stands for: its own for the exact ones, else its geometric middle,
    kept within the whole milliseconds the bucket holds."""
    if bucket < EXACT_BELOW:
        return bucket
    low = _ANCHOR * GROWTH ** (bucket - _ANCHOR_BUCKET)
    high = _ANCHOR * GROWTH ** (bucket + 1 - _ANCHOR_BUCKET)
    first, last = max(math.ceil(low), EXACT_BELOW), math.ceil(high) - 1
    return min(max(round(math.sqrt(low * high)), first), max(last, first))


def histogram_percentile(counts: list[int], fraction: float) -> int | None:
    """The nearest-rank percentile of the durations a histogram counts, as its bucket's value."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(total * fraction))
    seen = 0
    for bucket, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(LAST)
