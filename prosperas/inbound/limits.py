"""Rate limits of the lender-facing endpoints (postbacks, the postback tester, product data,
lender callbacks): per client address, and per key.

Each endpoint counts its requests in fixed windows, in the shared cache (Redis), by the settings'
LENDER_RATE_LIMITS ("1500/10s": at most 1500 requests in each 10-second window; django-ratelimit's
notation, which the consumer flow's limits use too). Every request counts against its address
before anything else is read, and a request that authenticated counts against its key too (the
public key, a bearer key's digest, a callback URL's token). So a flood from one address is stopped
before it costs a body read or a refusal's count, and nobody can use up a lender's key limit
without its secret. Over a limit the answer is 429 `rate_limited` with `Retry-After`: the seconds
until the window ends.

A count is one round trip to Redis (INCR and EXPIRE in one pipeline). django-ratelimit, which the
flow's forms use, takes three (SET NX, then Django's incr: EXISTS and INCRBY) for each; on the
postback endpoint, two limits that way cut the postbacks bench's ratio from 0.64 to 0.38.

When the cache cannot be reached the limit is not applied (fail open, a warning logged), as for
the consumer flow's forms: a Redis outage must never refuse a lender's postback.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from redis.exceptions import RedisError

from prosperas.inbound.refusals import InboundRefused

logger = logging.getLogger(__name__)

ADDRESS, KEY = "address", "key"
WHAT_IS_LIMITED = {ADDRESS: "this address", KEY: "this key"}
# A window's count outlives the window by this much, so a clock a little behind never reads a
# count that already expired.
EXPIRY_MARGIN_SECONDS = 5
RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """("1500/10s") -> (1500 requests, 10 seconds); the notation of django-ratelimit's rates."""
    match = RATE.match(rate.strip())
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as 1500/10s, 100/m or 5000/h.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * PERIOD_SECONDS[unit]


def limit_check(request: HttpRequest, *, endpoint: str, scope: str, value: str | None) -> None:
    """Count this request against `endpoint`'s LENDER_RATE_LIMITS[scope] for `value` (an address
    or a key, hashed before it reaches the cache); raise a 429 InboundRefused when it is over."""
    if not value:
        return
    rate = settings.LENDER_RATE_LIMITS[scope]
    limit, period = rate_parse(rate)
    now = int(time.time())
    window_end = now - now % period + period
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    try:
        count = window_count(f"lender-limit:{endpoint}:{scope}:{digest}:{window_end}", period)
    except (RedisError, OSError) as exc:
        logger.warning("Rate limit of %s per %s not applied: its cache is unreachable (%s).", endpoint, scope,
                       type(exc).__name__)
        return
    if count <= limit:
        return
    if count == limit + 1:  # once per window, not once per refused request
        logger.warning("Rate limit reached: %s per %s (%s).", endpoint, scope, rate)
    raise rate_limited(scope, retry_after=max(1, window_end - now), rate=rate)


def window_count(key: str, period: int) -> int:
    """Add one to the count at `key` and return it; the count expires after its window."""
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(full_key, write=True).pipeline(transaction=False)
        pipeline.incr(full_key)
        pipeline.expire(full_key, period + EXPIRY_MARGIN_SECONDS)
        return int(pipeline.execute()[0])
    # Any other cache (a test's local memory): two calls, atomic enough for one process.
    cache.add(key, 0, period + EXPIRY_MARGIN_SECONDS)
    return cache.incr(key)


def rate_limited(scope: str, *, retry_after: int, rate: str) -> InboundRefused:
    return InboundRefused(
        429, "rate_limited",
        f"Too many requests from {WHAT_IS_LIMITED[scope]} (at most {rate.replace('/', ' per ')}); "
        f"retry after {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )
