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
from django.db import models, transaction


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


def purge_batches(purge: Purge, *, now: datetime, batch_size: int) -> Iterator[list]:
    """The primary keys of the rows due at `now`, in batches, in primary key order (keyset)."""
    cutoff = purge.cutoff(now)
    if cutoff is None:
        return
    after = None
    while True:
        rows = purge.due(cutoff).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        pks = list(rows.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return
        yield pks
        after = pks[-1]


def purge_batch_apply(purge: Purge, pks: list, *, now: datetime) -> list:
    """Apply the purge to those of `pks` still due, in one short transaction; returns them."""
    cutoff = purge.cutoff(now)
    if cutoff is None:
        return []
    with transaction.atomic():
        still_due = list(
            purge.due(cutoff).filter(pk__in=pks).order_by("pk").select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        if still_due:
            purge.apply(purge.model._default_manager.filter(pk__in=still_due))
    return still_due
