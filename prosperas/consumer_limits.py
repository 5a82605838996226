"""Rate limits of the consumers' form posts, per client address: the hosted flow's pages
(apps/flow) and the short details page an origin's offer link leads to (apps/origin_api).

settings.FLOW_RATE_LIMITS names each group's rate ("start", "post"), read at each request. Over
it the consumer gets a friendly 429 page saying to wait a minute, and nothing is done. The
counts live in the shared cache (django-ratelimit on Redis): when it cannot be reached the limit
is not applied (fail open, logged), since a consumer must never meet an error because a
limiter's store is down.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django_ratelimit.core import is_ratelimited
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

TEMPLATE = "flow/rate_limited.html"


def posts_rate_limited(group: str, *, back_to: str | None = None):
    """Limit a view's POSTs per client address to settings.FLOW_RATE_LIMITS[group]. The refusal
    page links back to the page posted to (its GET), or to the URL named `back_to` (reversed with
    the view's own arguments) when the posted URL has no page, so a consumer retries where they were."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST" and over_limit(request, group):
                logger.warning("Rate limit reached on the consumers' %s posts.", group)  # no address, no data
                back_url = reverse(back_to, kwargs=kwargs) if back_to else request.path
                return render(request, TEMPLATE, {"back_url": back_url}, status=429)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def over_limit(request: HttpRequest, group: str) -> bool:
    """Whether this address is over the group's limit (counting this request)."""
    try:
        return is_ratelimited(request, group=f"flow:{group}", key="ip", rate=settings.FLOW_RATE_LIMITS[group],
                              method="POST", increment=True)
    except RedisError as exc:
        logger.warning("Rate limit of the consumers' %s posts not applied: its cache is unreachable (%s).", group,
                       type(exc).__name__)
        return False
