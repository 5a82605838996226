"""Rate limits of the lender-facing endpoints (postbacks, the postback tester, product data,
lender callbacks): per client address, and per key.

Each endpoint counts its requests in fixed windows, in the shared cache (Redis), by the settings'
LENDER_RATE_LIMITS ("1500/10s": at most 1500 requests in each 10-second window; django-ratelimit's
notation, which the consumer flow's limits use). A request is counted once it arrives, before
anything is read: against its address, and against the key it names (the public key, a bearer
key's digest, a callback URL's token). Over the address's limit it is refused at once, so a flood
from one address costs no body read and no refusal's count. A request that then fails (a refusal
at authentication, or any refusal before it) is taken back off its key's count: the key's count
holds the requests that authenticated, and nobody can use up a lender's limit with its public key
alone. Over a limit the answer is 429 `rate_limited` with `Retry-After`: the seconds until the
window ends.

A request costs one round trip to Redis, one command (a short Lua script adds to both counts and
sets their expiry, atomically), and one more only when it is refused. The script replaced a
pipeline of four commands (INCRBY and EXPIRE per count), whose packing and replies cost the web
process about a tenth of a millisecond a request more. django-ratelimit, which the flow's forms
use, takes three per limit (SET NX, then Django's incr: EXISTS and INCRBY): measured in one
process on a busy machine, 3.5 ms a request for the two limits against 1.0 ms here, and the
postbacks bench with it gave a ratio of 0.38 where the code before the limits gave 0.64.

When the cache cannot be reached the limits are not applied (fail open, a warning logged), as for
the consumer flow's forms: a Redis outage must never refuse a lender's postback.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
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
    """"1500/10s" -> (1500 requests, 10 seconds); the notation of django-ratelimit's rates."""
    match = RATE.match(rate.strip())
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as 1500/10s, 100/m or 5000/h.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * PERIOD_SECONDS[unit]


@dataclass(frozen=True)
class _Count:
    key: str  # the cache key of this window's count
    value: int
    limit: int
    period: int
    retry_after: int
    rate: str


@dataclass
class Counted:
    """A request's counts, per scope (none when a scope had no value or the cache was down)."""

    endpoint: str
    counts: dict[str, _Count] = field(default_factory=dict)

    def check(self, scope: str) -> None:
        """Raise a 429 InboundRefused when the request is over `scope`'s limit."""
        count = self.counts.get(scope)
        if count is None or count.value <= count.limit:
            return
        if count.value == count.limit + 1:  # once per window, not once per refused request
            logger.warning("Rate limit reached: %s per %s (%s).", self.endpoint, scope, count.rate)
        raise rate_limited(scope, retry_after=count.retry_after, rate=count.rate)

    def take_back(self, scope: str) -> None:
        """Take this request off `scope`'s count (one more round trip; a failure is only logged)."""
        count = self.counts.pop(scope, None)
        if count is None:
            return
        try:
            _pipeline_run([(count.key, -1, count.period)])
        except (RedisError, OSError) as exc:
            logger.warning("A refused request stays on a %s rate limit count: its cache is unreachable (%s).",
                           scope, type(exc).__name__)


def requests_count(*, endpoint: str, address: str | None, key: str | None) -> Counted:
    """Add this request to `endpoint`'s counts for its address and its key (LENDER_RATE_LIMITS),
    in one round trip; Counted.check says whether it is over either."""
    now = int(time.time())
    wanted = []
    for scope, value in ((ADDRESS, address), (KEY, key)):
        if not value:
            continue
        rate = settings.LENDER_RATE_LIMITS[scope]
        limit, period = rate_parse(rate)
        window_end = now - now % period + period
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        wanted.append((scope, f"lender-limit:{endpoint}:{scope}:{digest}:{window_end}", limit, period,
                       max(1, window_end - now), rate))
    counted = Counted(endpoint=endpoint)
    if not wanted:
        return counted
    try:
        values = _pipeline_run([(cache_key, 1, period) for _, cache_key, _, period, _, _ in wanted])
    except (RedisError, OSError) as exc:
        logger.warning("Rate limits of %s not applied: their cache is unreachable (%s).", endpoint,
                       type(exc).__name__)
        return counted
    for (scope, cache_key, limit, period, retry_after, rate), value in zip(wanted, values, strict=True):
        counted.counts[scope] = _Count(key=cache_key, value=value, limit=limit, period=period,
                                       retry_after=retry_after, rate=rate)
    return counted


# KEYS: the counts; ARGV: per count its amount, then its expiry in seconds. Returns the counts
# after. An expiry set with each change keeps a count from outliving its window even if the
# process that made it dies right after (INCRBY then EXPIRE in one script: nothing in between).
_COUNT_SCRIPT = """
local counts = {}
for index, key in ipairs(KEYS) do
  counts[index] = redis.call('INCRBY', key, ARGV[2 * index - 1])
  redis.call('EXPIRE', key, ARGV[2 * index])
end
return counts
"""
_script = []  # redis-py's Script, made once: EVALSHA, and EVAL when the server lacks the script


def _pipeline_run(changes: list[tuple[str, int, int]]) -> list[int]:
    """Add each (key, amount, period) to its count, the count expiring after its window; the counts
    after. One round trip to Redis, one command."""
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if not isinstance(cache, RedisCache):
        # Any other cache (a test's local memory): atomic enough for one process.
        values = []
        for key, amount, period in changes:
            cache.add(key, 0, period + EXPIRY_MARGIN_SECONDS)
            values.append(cache.incr(key, amount))
        return values
    full_keys = [cache.make_and_validate_key(key) for key, _, _ in changes]
    client = cache._cache.get_client(full_keys[0], write=True)
    if not _script:
        _script.append(client.register_script(_COUNT_SCRIPT))
    arguments = [value for _, amount, period in changes for value in (amount, period + EXPIRY_MARGIN_SECONDS)]
    return [int(value) for value in _script[0](keys=full_keys, args=arguments, client=client)]


def rate_limited(scope: str, *, retry_after: int, rate: str) -> InboundRefused:
    return InboundRefused(
        429, "rate_limited",
        f"Too many requests from {WHAT_IS_LIMITED[scope]} (at most {rate.replace('/', ' per ')}); "
        f"retry after {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )

