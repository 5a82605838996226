"""The funnel rollup's one write in SQL: adding signed amounts to FunnelDay's counts
(prosperas/sql.py's counts_add: FunnelDay's group has nullable columns, unique NULLS NOT
DISTINCT)."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from apps.reports.models import FunnelDay
from prosperas.sql import counts_add

GROUP = ("day", "origin", "lender", "campaign")
COUNTS = ("started", "identity", "decision", "offer", "handed_off", "approved", "disbursed")
CONSTRAINT = "funnel_day_one_row_per_group"


@transaction.atomic
def funnel_days_add(deltas: dict[tuple[date, int, int | None, int | None], list[int]]) -> None:
    """Add each group's amounts (started, then each stage, possibly negative) to its FunnelDay row;
    a missing row is created first, and a row left with nothing started is deleted (a rebuild
    would not write it). Groups are (day, origin id, lender id, campaign id)."""
    counts_add(FunnelDay, deltas, group=GROUP, counts=COUNTS, constraint=CONSTRAINT, drop_when_zero=("started",))
