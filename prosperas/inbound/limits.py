"""Rate limits of the lender-facing endpoints (postbacks, the postback tester, product data,
lender callbacks): per client address, and per key.

Each endpoint counts its requests in fixed windows (django-ratelimit over the shared cache, Redis),
by the settings' LENDER_RATE_LIMITS: every request counts against its address before anything
else is read, and a request that authenticated counts against its key too (the public key, a
bearer key's digest, a callback URL's token). So a flood from one address is stopped before it
costs a body read or a refusal's count, and nobody can use up a lender's key limit without its
secret. Over a limit the answer is 429 `rate_limited` with `Retry-After`: the seconds until the
window ends.

When the cache cannot be reached the limit is not applied (fail open, a warning logged), as for
the consumer flow's forms: a Redis outage must never refuse a lender's postback.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from prosperas.inbound.refusals import InboundRefused

logger = logging.getLogger(__name__)

ADDRESS, KEY = "address", "key"
WHAT_IS_LIMITED = {ADDRESS: "this address", KEY: "this key"}


def limit_check(request: HttpRequest, *, endpoint: str, scope: str, value: str | None) -> None:
    """Count this request against `endpoint`'s LENDER_RATE_LIMITS[scope] for `value` (an address, or
    a key: hashed before it reaches the cache); raise a 429 InboundRefused when it is over."""
    if not value:
        return
    if scope == KEY:
        value = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    rate = settings.LENDER_RATE_LIMITS[scope]
    try:
        usage = get_usage(request, group=f"lender-api:{endpoint}:{scope}", key=lambda group, request: value,
                          rate=rate, method=ALL, increment=True)
    except (RedisError, OSError) as exc:
        logger.warning("Rate limit of %s per %s not applied: its cache is unreachable (%s).", endpoint, scope,
                       type(exc).__name__)
        return
    if usage is None or not usage["should_limit"]:
        return
    if usage["count"] == usage["limit"] + 1:  # once per window, not once per refused request
        logger.warning("Rate limit reached: %s per %s (%s).", endpoint, scope, rate)
    raise rate_limited(scope, retry_after=max(1, int(usage["time_left"])), rate=rate)


def rate_limited(scope: str, *, retry_after: int, rate: str) -> InboundRefused:
    return InboundRefused(
        429, "rate_limited",
        f"Too many requests from {WHAT_IS_LIMITED[scope]} (at most {rate.replace('/', ' per ')}); "
        f"retry after {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )
