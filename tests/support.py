"""Helpers for tests (fixtures live in conftest.py)."""

import time


def wait_until(predicate, *, timeout: float = 15.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    assert value, f"condition not met within {timeout} s"
    return value
