"""The timing rules every lender call follows: idempotency keys and retry backoff."""

import random

from apps.lenders.config import RETRY_AFTER_LIMIT_SECONDS, idempotency_key, retry_countdown


def test_the_idempotency_key_is_the_same_on_every_retry_and_differs_by_capability():
    assert idempotency_key("movilco_abc", "prequalify") == idempotency_key("movilco_abc", "prequalify")
    assert idempotency_key("movilco_abc", "prequalify") != idempotency_key("movilco_abc", "submit")
    assert len(idempotency_key("x", "submit")) == 64


def test_backoff_grows_exponentially_up_to_the_cap(settings):
    settings.LENDER_RETRY_BACKOFF_SECONDS, settings.LENDER_RETRY_BACKOFF_MAX_SECONDS = 2.0, 60.0
    highest = random.Random(1)
    highest.uniform = lambda low, high: high
    assert [retry_countdown(n, rng=highest) for n in (1, 2, 3, 4, 10)] == [2.0, 4.0, 8.0, 16.0, 60.0]


def test_backoff_jitter_never_goes_below_half_the_step(settings):
    settings.LENDER_RETRY_BACKOFF_SECONDS, settings.LENDER_RETRY_BACKOFF_MAX_SECONDS = 2.0, 60.0
    lowest = random.Random(1)
    lowest.uniform = lambda low, high: low
    assert [retry_countdown(n, rng=lowest) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    rng = random.Random(7)
    assert min(retry_countdown(1, rng=rng) for _ in range(1000)) >= 1.0


def test_a_larger_retry_after_wins_and_a_smaller_one_does_not(settings):
    settings.LENDER_RETRY_BACKOFF_SECONDS, settings.LENDER_RETRY_BACKOFF_MAX_SECONDS = 2.0, 60.0
    assert retry_countdown(1, retry_after=30) == 30
    assert retry_countdown(3, retry_after=0.5) >= 4.0
    assert retry_countdown(1, retry_after=86400) == RETRY_AFTER_LIMIT_SECONDS


# --- prequalify -----------------------------------------------------------------------------
