"""The attempt engine's read of a lender's earlier calls, in SQL: every lender call of a compare
fan-out makes it once, under its claim's lock, where building the query through the ORM costs
more than the database's own work (prosperas/sql.py for the helpers)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from apps.lenders.models import LenderCall
from prosperas.sql import converted


def lender_calls_earlier(*, lead_id: int, lender_id: int, capability: str) -> list[tuple[int, str, datetime]]:
    """(id, outcome, started_at) of every attempt at this capability for this lead and lender."""
    started_at = LenderCall._meta.get_field("started_at")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, outcome, started_at FROM {connection.ops.quote_name(LenderCall._meta.db_table)}"
                       " WHERE lead_id = %s AND lender_id = %s AND capability = %s", [lead_id, lender_id, capability])
        rows = cursor.fetchall()
    return [(pk, outcome, converted(started_at, at)) for pk, outcome, at in rows]
