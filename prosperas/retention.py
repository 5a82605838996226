"""Retention: the shape in which each app declares what it purges, and the batch loop they share.

An app that owns a table declares a `Purge` in its `retention.py`: which rows are due at a cutoff
(`due`, a queryset) and what happens to them (`apply`: delete, blank some columns, anonymise).
`apps/lifecycle` collects them, runs them in order and gives the dry run. The rows acted on are
exactly the rows the dry run lists at the same moment (`now`), because both walk the same `due`
queryset in primary key order, and each batch is applied only to those of its rows still due,
locked for its short transaction: a row that changed in between (a lead that moved on) is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max, Min


@dataclass(frozen=True)
class Purge:
    kind: str  # the kind of data (a key of settings.RETENTION_DAYS, or a fixed retention's name)
    action: str  # what happens to a due row: "delete", "blank" or "anonymise"
    description: str  # what a due row is, for the dry run and the logs
    model: type[models.Model]
    due: Callable[[datetime], models.QuerySet]  # the rows due at a cutoff
    apply: Callable[[models.QuerySet], object]  # acts on a queryset of due rows (inside a transaction)
    retention: Callable[[], timedelta | None]  # how long rows are kept; None: for ever

    @property
    def label(self) -> str:
        return self.model._meta.label

    def cutoff(self, now: datetime) -> datetime | None:
        kept = self.retention()
        return None if kept is None else now - kept


def retention_days(kind: str) -> Callable[[], timedelta | None]:
    """The retention of a kind of data from settings.RETENTION_DAYS; 0 days keeps it for ever."""

    def retention() -> timedelta | None:
        days = settings.RETENTION_DAYS[kind]
        return timedelta(days=days) if days else None

    return retention


# How many batches' worth of primary keys one query may walk through (see purge_batches).
SPAN = 100


def _read_by_primary_key() -> None:
    """For this transaction only: no bitmap scans. A batch's rows are one range of primary keys,
    but the planner would AND that range with another index of the due condition (the leads'
    status and updated_at), reading every old lead's entry for every batch: quadratic over a run.
    Without bitmaps it walks the range in key order and checks each row."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")


def purge_batches(purge: Purge, *, now: datetime, batch_size: int) -> Iterator[list]:
    """The primary keys of the rows due at `now`, in primary key order, at most `batch_size` at a
    time. Each query walks the primary key index from where the last stopped, through a window of
    at most SPAN batches' worth of keys: it stops at `batch_size` due rows, and a window with
    fewer is done. So a run costs one pass over the table, whether most rows are due (the first
    run) or almost none (every day after); an unbounded LIMIT over the due rows let the planner
    collect and sort every due row for each batch instead, quadratic over a big first run."""
    cutoff = purge.cutoff(now)
    if cutoff is None:
        return
    bounds = purge.model._default_manager.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return
    after = bounds["low"] - 1
    while after < bounds["high"]:
        window_end = after + batch_size * SPAN
        with transaction.atomic():
            _read_by_primary_key()
            pks = list(purge.due(cutoff).filter(pk__gt=after, pk__lte=window_end).order_by("pk")
                       .values_list("pk", flat=True)[:batch_size])
        after = pks[-1] if len(pks) == batch_size else window_end
        if pks:
            yield pks


def purge_batch_apply(purge: Purge, pks: list, *, now: datetime) -> list:
    """Apply the purge to those of `pks` still due, in one short transaction; returns them."""
    cutoff = purge.cutoff(now)
    if cutoff is None:
        return []
    with transaction.atomic():
        _read_by_primary_key()
        still_due = list(
            purge.due(cutoff).filter(pk__in=pks).order_by("pk").select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        if still_due:
            purge.apply(purge.model._default_manager.filter(pk__in=still_due))
    return still_due
