"""Database connections are held only while they are used.

Each process keeps a pool of PostgreSQL connections (settings: DATABASES OPTIONS "pool"; hooks
in prosperas/pool.py). Django hands a thread one when it first queries and gives it back when it
closes the thread's connection: at the end of every request and every task. A thread about to
wait seconds on someone else (a lender's answer, or the sandbox's simulated latency) gives its
connection back first, so a worker's hundred threads waiting on lenders hold none, and a
compare fan-out's K claims share the pool's few connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def connection_give_back() -> None:
    """Give this thread's connection back to the pool, unless a transaction needs it (a test
    wrapped in one, or a caller's atomic block)."""
    if not connection.in_atomic_block:
        connection.close()


@contextmanager
def database_released() -> Iterator[None]:
    """Around a wait on someone else: no connection held meanwhile (the next query takes one)."""
    connection_give_back()
    yield
