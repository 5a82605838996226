"""A lender's configuration as its adapter sees it, and the timing rules every call follows:
the idempotency key, retry backoff, poll intervals and the per-attempt deadline."""

from __future__ import annotations

import hashlib
import random
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import AdapterConfigurationError, LenderAdapter, LenderConfig
from apps.lenders.http import CONNECT_TIMEOUT_SECONDS, effective_timeout
from apps.lenders.models import Lender

# A 429's Retry-After is honoured up to this; beyond it the lender is effectively down for this
# journey, and a countdown longer than the broker's visibility timeout would be redelivered.
RETRY_AFTER_LIMIT_SECONDS = 600.0
# The path lender callbacks are documented at, should the URL that serves them not be mounted.
CALLBACK_PATH = "/api/v1/lenders/callbacks/{token}"


def lender_callback_url(lender: Lender) -> str:
    """Our URL this lender calls back on: its unguessable token is the authentication."""
    try:
        path = reverse("leads:lender_callback", args=[lender.callback_token])
    except NoReverseMatch:
        path = CALLBACK_PATH.format(token=lender.callback_token)
    return f"{settings.SITE_URL}{path}"


def lender_config_for(lender: Lender) -> LenderConfig:
    return LenderConfig(
        code=lender.code,
        base_url=lender.base_url,
        timeout_seconds=float(lender.timeout_seconds),
        credentials=dict(lender.credentials or {}),
        environment=lender.environment,
        options=lender.adapter_options(),
    )


def adapter_for(lender: Lender) -> LenderAdapter:
    return adapter_class(lender.adapter)(lender_config_for(lender))


def lender_submits(lender: Lender) -> bool:
    """False only for a registered adapter that declares no submission call."""
    try:
        return adapter_class(lender.adapter).submits(lender_config_for(lender).options)
    except AdapterConfigurationError:
        return True  # the attempt records the configuration error where staff see it.


def lender_polls(lender: Lender) -> bool:
    """Whether a pending decision of this lender can be asked about (else only its callback ends it)."""
    return adapter_class(lender.adapter).polls(lender_config_for(lender).options)


def idempotency_key(tracking_id: str, capability: str) -> str:
    """The same on every retry of one capability for one journey: the lender deduplicates by it."""
    return hashlib.sha256(f"{tracking_id}:{capability}".encode()).hexdigest()


def deadline_seconds(lender: Lender) -> float:
    """The longest one attempt at this lender can take (apps/lenders/http.py enforces it)."""
    return effective_timeout(float(lender.timeout_seconds)) + CONNECT_TIMEOUT_SECONDS


def retry_countdown(failures: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds before retry number `failures`: exponential, capped, jittered, with a floor.

    "Equal jitter": half of the exponential step is fixed and half is random, so two journeys
    failing together spread out, yet no retry is ever near-immediate (full jitter can draw 0 s,
    STACK-NOTES.md). A larger Retry-After from the lender wins, up to RETRY_AFTER_LIMIT_SECONDS.
    """
    base = settings.LENDER_RETRY_BACKOFF_SECONDS
    cap = max(settings.LENDER_RETRY_BACKOFF_MAX_SECONDS, base)
    step = min(cap, base * 2 ** max(failures - 1, 0))
    delay = step / 2 + (rng or random).uniform(0, step / 2)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, RETRY_AFTER_LIMIT_SECONDS)
    return delay


def poll_countdown(lender: Lender, seconds_left: float) -> float:
    """When to ask again about a pending decision: the adapter's interval (capped in tests by
    LENDER_POLL_INTERVAL_CAP_SECONDS), never past the moment the decision times out."""
    interval = adapter_class(lender.adapter).poll_interval_seconds
    cap = getattr(settings, "LENDER_POLL_INTERVAL_CAP_SECONDS", 0.3 if settings.TESTING else None)
    if cap:
        interval = min(interval, cap)
    return max(0.05, min(interval, seconds_left + 0.05))
