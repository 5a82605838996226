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


def database_quiet(*, timeout: float = 15.0) -> None:
    """Wait until no other connection to the test database is running a statement or holds a
    transaction open: a live server's thread may still finish a request's last work (its
    notifications, the lender's side of a call) after the test has its answer, and the flush that
    ends a transactional test would deadlock with it."""
    from django.db import connection

    def quiet() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')")
            return cursor.fetchone()[0] == 0

    wait_until(quiet, timeout=timeout)
