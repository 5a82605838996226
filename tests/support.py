"""Helpers for tests (fixtures live in conftest.py)."""

import time

from django.utils import timezone


def wait_until(predicate, *, timeout: float = 15.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    assert value, f"condition not met within {timeout} s"
    return value


def postback_apply(lead, status: str, occurred_at=None) -> str:
    """What a lender's postback does to `lead`, as the endpoint records it (apps.postbacks
    services) and the follow-up runner completes it (email, result charges); returns the effect."""
    from apps.postbacks.services import PostbackData, postback_follow_ups_run, postback_ingest

    outcome = postback_ingest(
        lender=lead.lender, raw_body=b"{}", headers={}, source_ip=None,
        data=PostbackData(click_id=lead.tracking_id, status=status, occurred_at=occurred_at or timezone.now()),
    )
    postback_follow_ups_run()
    return outcome.event.effect
