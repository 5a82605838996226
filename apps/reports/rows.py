"""The funnel rollup's one statement in SQL: adding signed amounts to FunnelDay's counts.

The ORM has no "add to these counts, creating the row if missing" for a whole batch of groups
(FunnelDay's group has nullable columns, unique NULLS NOT DISTINCT), so it is written here with
the model's own table and column names (prosperas/sql.py).
"""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction

from apps.reports.models import FunnelDay
from prosperas.sql import columns, fields_of

GROUP = ("day", "origin", "lender", "campaign")
COUNTS = ("started", "identity", "decision", "offer", "handed_off", "approved", "disbursed")
CONSTRAINT = "funnel_day_one_row_per_group"


@transaction.atomic
def funnel_days_add(deltas: dict[tuple[date, int, int | None, int | None], list[int]]) -> None:
    """Add each group's amounts (started, then each stage, possibly negative) to its FunnelDay row;
    a missing row is created first, and a row left with nothing started is deleted (a rebuild
    would not write it). Groups are (day, origin id, lender id, campaign id)."""
    table = FunnelDay._meta.db_table
    group_fields, count_fields = fields_of(FunnelDay, GROUP), fields_of(FunnelDay, COUNTS)
    group_columns, count_columns = columns(group_fields), columns(count_fields)
    rows = sorted(deltas.items(), key=lambda item: tuple((value is None, value or 0) for value in item[0]))
    values = ", ".join(["(" + ", ".join(["%s"] * (len(GROUP) + len(COUNTS))) + ")"] * len(rows))
    params = [value for group, counts in rows for value in (*group, *counts)]
    # The first row's casts type the VALUES list (a NULL or a plain number would be taken as text or int).
    typed = ", ".join(f"CAST(d.{connection.ops.quote_name(field.column)} AS {field.cast_db_type(connection)})"
                      for field in group_fields)
    names = ", ".join(connection.ops.quote_name(field.column) for field in (*group_fields, *count_fields))
    same_group = " AND ".join(
        f"f.{connection.ops.quote_name(field.column)} IS NOT DISTINCT FROM "
        f"CAST(d.{connection.ops.quote_name(field.column)} AS {field.cast_db_type(connection)})"
        for field in group_fields)
    additions = ", ".join(f"{connection.ops.quote_name(field.column)} = f.{connection.ops.quote_name(field.column)} "
                          f"+ d.{connection.ops.quote_name(field.column)}" for field in count_fields)
    with connection.cursor() as cursor:
        # Rows in a fixed order (sorted above): two runs never wait on each other's rows crosswise.
        cursor.execute(
            f"INSERT INTO {table} ({group_columns}, {count_columns}) "
            f"SELECT {typed}, {', '.join('0' for _ in COUNTS)} FROM (VALUES {values}) AS d ({names}) "
            f"ON CONFLICT ON CONSTRAINT {CONSTRAINT} DO NOTHING", params)
        cursor.execute(
            f"UPDATE {table} AS f SET {additions} FROM (VALUES {values}) AS d ({names}) WHERE {same_group}", params)
        cursor.execute(
            f"DELETE FROM {table} AS f USING (VALUES {values}) AS d ({names}) "
            f"WHERE {same_group} AND f.{connection.ops.quote_name('started')} = 0", params)
