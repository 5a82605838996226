"""The event feed's commit-ordered sequence, in SQL (the one statement of this app written by hand).

An id from a sequence is drawn when a row is inserted, not when it is committed: a transaction
that draws id 7 and commits after the one that drew id 8 would let a reader page past 8 before
7 is visible, and never see 7 (a gap). So events are inserted with no `sequence`, and numbers
are given after commit, by one transaction at a time (a transaction-scoped advisory lock), to
the rows committed by then: each run numbers only what is visible to it, above the highest
number already given (only a run holding the lock writes `sequence`, so the rows it numbers
need no row lock). A run commits before the next one takes the lock, so the numbers
committed always form an unbroken prefix, and a reader paging by `sequence` sees every event
once, in that order.
"""

from __future__ import annotations

from django.db import connection, transaction

from apps.origin_api.models import OriginEvent

# pg_advisory_xact_lock key of the numbering: "origin events" in ASCII, any constant unique here.
SEQUENCE_LOCK_KEY = 0x6F726967696E6576


def events_sequence() -> int:
    """Number the committed events that have no number yet, oldest id first; returns how many."""
    table = connection.ops.quote_name(OriginEvent._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCE_LOCK_KEY])
        cursor.execute(
            f"WITH base AS (SELECT COALESCE(MAX(sequence), 0) AS top FROM {table}),"
            f" todo AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM {table}"
            "  WHERE sequence IS NULL)"
            f" UPDATE {table} AS event SET sequence = base.top + todo.n FROM todo, base WHERE event.id = todo.id",
        )
        return cursor.rowcount
