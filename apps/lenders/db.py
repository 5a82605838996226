"""How lender-call threads use the database: a few pooled connections, none held while waiting.

A Celery threads pool of a hundred threads, each waiting seconds on a lender, would hold a
hundred PostgreSQL connections if every thread kept its own (Django keeps one per thread), and
a compare-mode fan-out makes them all want one at the same instant. PostgreSQL's default
max_connections is 100, for every process of the platform together. So, in a worker process:

- a lender task borrows one of LENDER_DB_CONNECTIONS pooled connections (settings; 16 by
  default) for as long as it uses the database (`database_slot`, around each task), waiting
  for a free one otherwise;
- while it waits on a lender (`waiting_on_lender`, around every HTTP call) it gives the
  connection back, so the other threads claim and record meanwhile;
- the pooled connections stay open between tasks (no connect per task), each renewed after
  CONN_MAX_AGE or after an error, as Django renews its own; the health check
  (CONN_HEALTH_CHECKS, a `SELECT 1` round trip) is skipped for a connection given back less than
  HEALTH_CHECK_AFTER_IDLE_SECONDS ago: in a fan-out a hundred tasks borrow each connection many
  times a second, and a connection that worked a moment ago needs no ping.

It is a small connection pool built on Django's own connection objects: a pooled one is handed
to the borrowing thread as its `connections["default"]`, and taken back after. The sandbox
lenders use it too under a real server (their slow answers must not hold connections either).
Elsewhere (the web server's other views, tests calling services directly) nothing changes,
except that a service closes the thread's connection before a wait on a lender. README:
"Database connections".
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

DEFAULT_SIZE = 16
HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0
_local = threading.local()
_guard = threading.Lock()


class ConnectionPool:
    """At most `size` connections; a borrower waits for a free one."""

    def __init__(self, size: int):
        self.size = size
        self.available = threading.BoundedSemaphore(size)
        self.idle: list[BaseDatabaseWrapper] = []
        self.lock = threading.Lock()

    def borrow(self) -> BaseDatabaseWrapper:
        self.available.acquire()
        with self.lock:
            wrapper = self.idle.pop() if self.idle else None
        if wrapper is None:
            wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
            wrapper.inc_thread_sharing()  # it moves between the pool's borrowers
        else:
            wrapper.close_if_unusable_or_obsolete()  # CONN_MAX_AGE, errors; asks for a health check
            if time.monotonic() - getattr(wrapper, "pool_given_back_at", 0.0) < HEALTH_CHECK_AFTER_IDLE_SECONDS:
                wrapper.health_check_done = True  # it worked a moment ago: no ping
        return wrapper

    def give_back(self, wrapper: BaseDatabaseWrapper) -> None:
        if wrapper.in_atomic_block or wrapper.needs_rollback:  # never left mid-transaction
            wrapper.close()
        wrapper.pool_given_back_at = time.monotonic()
        with self.lock:
            self.idle.append(wrapper)
        self.available.release()

    def close_all(self) -> None:
        with self.lock:
            for wrapper in self.idle:
                wrapper.close()


_pool: ConnectionPool | None = None


def pool_size() -> int:
    # settings.LENDER_DB_CONNECTIONS when the settings module defines it; until then the same
    # environment variable, read here.
    size = getattr(settings, "LENDER_DB_CONNECTIONS", None) or os.environ.get("LENDER_DB_CONNECTIONS") or DEFAULT_SIZE
    return max(1, int(size))


def pool() -> ConnectionPool:
    global _pool
    if _pool is None:
        with _guard:
            if _pool is None:
                _pool = ConnectionPool(pool_size())
    return _pool


def release_db_connection() -> None:
    """Close this thread's connection, unless a transaction needs it (a test wrapped in one)."""
    if not connection.in_atomic_block:
        connection.close()


def _lend() -> None:
    _local.own = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = pool().borrow()


def _take_back() -> None:
    borrowed = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = _local.own
    pool().give_back(borrowed)


@contextmanager
def database_slot() -> Iterator[None]:
    """The block uses a pooled connection (re-entrant within a thread)."""
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        _lend()
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth -= 1
        if _local.depth == 0:
            _take_back()


@contextmanager
def waiting_on_lender() -> Iterator[None]:
    """Around an HTTP call (or the sandbox's simulated latency): no connection held while the
    lender takes its time; a pooled one is given back and borrowed again after."""
    depth = getattr(_local, "depth", 0)
    if depth == 0 or connection.in_atomic_block:
        release_db_connection()
        yield
        return
    _local.depth = 0
    _take_back()
    try:
        yield
    finally:
        _lend()
        _local.depth = depth
