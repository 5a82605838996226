"""The attempt engine's read of a lender's earlier calls, in SQL: every lender call of a compare
fan-out makes it once, under its claim's lock, where building the query through the ORM costs
more than the database's own work (prosperas/sql.py for the helpers)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db import connection

from apps.lenders.models import LenderCall
from prosperas.sql import converted


class EarlierCall(NamedTuple):
    id: int
    outcome: str
    started_at: datetime
    lease_expires_at: datetime | None


def lender_calls_earlier(*, lead_id: int, lender_id: int, capability: str) -> list[EarlierCall]:
    """Every attempt at this capability for this lead and lender: id, outcome, start time and
    the lease of one in flight (apps/lenders/leases.py)."""
    started_at, lease = LenderCall._meta.get_field("started_at"), LenderCall._meta.get_field("lease_expires_at")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, outcome, started_at, lease_expires_at"
                       f" FROM {connection.ops.quote_name(LenderCall._meta.db_table)}"
                       " WHERE lead_id = %s AND lender_id = %s AND capability = %s", [lead_id, lender_id, capability])
        rows = cursor.fetchall()
    return [EarlierCall(pk, outcome, converted(started_at, at), converted(lease, until)) for pk, outcome, at, until in rows]
