"""The call statistics' rollup (apps/lenders/stats_models.py): kept up to date by the dashboards'
periodic run (apps/reports/rollups.py, kind "calls"), read by lender_call_stats
(apps/lenders/selectors.py) for windows longer than a few hours.

A call is stamped when it starts and finishes within minutes (30 s deadline; a retry is a new
call), so each run adds the calls started between the last mark and `now` less MARGIN (an hour)
to their hour's and their day's span, and moves the mark: every call is added once. A call still
in flight an hour after it started is not counted (the sweep ends those long before).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.lenders.latency import BUCKETS, LatencyBucket
from apps.lenders.models import Lender, LenderCall, LenderCallSpan, LenderCallSpanMark

MARGIN = timedelta(hours=1)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# The calls the statistics count: the platform's own calls to a lender (also apps/lenders/selectors.py).
OUTBOUND_CAPABILITIES = (LenderCall.Capability.PREQUALIFY, LenderCall.Capability.SUBMIT, LenderCall.Capability.POLL)


@dataclass
class Tally:
    """Calls by outcome and timed calls by latency bucket, of one lender over some time."""

    outcomes: dict[str, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, outcomes: dict[str, int], latency: list[int]) -> None:
        for outcome, count in outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        self.latency = [a + b for a, b in zip(self.latency, latency, strict=True)]


def _zone():
    return timezone.get_default_timezone()


def _day_start(moment: datetime) -> datetime:
    """The start of the marketplace day of `moment`."""
    return datetime.combine(timezone.localtime(moment, _zone()).date(), time.min, tzinfo=_zone())


def _finished(start: datetime, end: datetime | None, lender_ids: Iterable[int]):
    calls = LenderCall.objects.filter(lender_id__in=list(lender_ids), started_at__gte=start,
                                      capability__in=OUTBOUND_CAPABILITIES)
    if end is not None:
        calls = calls.filter(started_at__lt=end)
    return calls.exclude(outcome=LenderCall.Outcome.IN_FLIGHT).order_by()


def calls_tally(start: datetime, end: datetime | None, lender_ids: Iterable[int]) -> dict[int, Tally]:
    """The finished outbound calls started in [start, end) (end None: up to now), by lender."""
    tallies: dict[int, Tally] = defaultdict(Tally)
    rows = _finished(start, end, lender_ids).values("lender_id", "outcome", bucket=LatencyBucket("duration_ms")) \
        .annotate(calls=Count("id"))
    for row in rows:
        tally = tallies[row["lender_id"]]
        tally.outcomes[row["outcome"]] = tally.outcomes.get(row["outcome"], 0) + row["calls"]
        if row["bucket"] is not None:
            tally.latency[row["bucket"]] += row["calls"]
    return tallies


def _spans_of(start: datetime, end: datetime) -> dict[tuple[int, str, datetime], Tally]:
    """The calls started in [start, end), by lender and by the hour and the day they started in."""
    spans: dict[tuple[int, str, datetime], Tally] = defaultdict(Tally)
    lender_ids = list(Lender.objects.values_list("pk", flat=True))
    rows = _finished(start, end, lender_ids).values(
        "lender_id", "outcome", hour=TruncHour("started_at", tzinfo=_zone()), bucket=LatencyBucket("duration_ms"),
    ).annotate(calls=Count("id"))
    for row in rows:
        for key in ((row["lender_id"], LenderCallSpan.Span.HOUR, row["hour"]),
                    (row["lender_id"], LenderCallSpan.Span.DAY, _day_start(row["hour"]))):
            tally = spans[key]
            tally.outcomes[row["outcome"]] = tally.outcomes.get(row["outcome"], 0) + row["calls"]
            if row["bucket"] is not None:
                tally.latency[row["bucket"]] += row["calls"]
    return spans


def _spans_add(start: datetime, end: datetime) -> None:
    """Add the calls started in [start, end) to their spans' rows."""
    spans = _spans_of(start, end)
    if not spans:
        return
    existing = {
        (row.lender_id, row.span, row.start): row
        for row in LenderCallSpan.objects.filter(start__in={start for _, _, start in spans},
                                                 lender_id__in={lender for lender, _, _ in spans})
    }
    changed, created = [], []
    for key, tally in spans.items():
        row = existing.get(key)
        if row is None:
            created.append(LenderCallSpan(lender_id=key[0], span=key[1], start=key[2], outcomes=tally.outcomes,
                                          latency=tally.latency))
            continue
        kept = Tally(outcomes=row.outcomes, latency=row.latency)
        kept.add(tally.outcomes, tally.latency)
        row.outcomes, row.latency = kept.outcomes, kept.latency
        changed.append(row)
    LenderCallSpan.objects.bulk_update(changed, ["outcomes", "latency"], batch_size=500)
    LenderCallSpan.objects.bulk_create(created, batch_size=500)


def _add_between(start: datetime, end: datetime) -> None:
    """[start, end) a day at a time (the first run reads the whole history)."""
    while start < end:
        step = min(start + DAY, end)
        _spans_add(start, step)
        start = step


@transaction.atomic
def lender_call_spans_refresh(now: datetime) -> int:
    """Add the calls started since the mark, up to `now` less MARGIN; returns the number of days
    whose spans were added to."""
    through = now - MARGIN
    mark = LenderCallSpanMark.objects.select_for_update().filter(pk=1).first()
    if mark is None:
        first = LenderCall.objects.aggregate(first=Min("started_at"))["first"]
        mark = LenderCallSpanMark(pk=1, through=min(first, through) if first is not None else through)
    start = mark.through
    if through <= start:
        mark.save()
        return 0
    _add_between(start, through)
    mark.through = through
    mark.save()
    return (timezone.localtime(through, _zone()).date() - timezone.localtime(start, _zone()).date()).days + 1


@transaction.atomic
def lender_call_spans_rebuild(days: set[date]) -> int:
    """Count these days' spans again from the calls (up to the mark): a backfill, or a check that
    the spans added run by run agree with a count from scratch. Returns the number of days."""
    mark = LenderCallSpanMark.objects.select_for_update().filter(pk=1).first()
    if mark is None:
        return 0
    for day in sorted(days):
        start = datetime.combine(day, time.min, tzinfo=_zone())
        end = min(datetime.combine(day + DAY, time.min, tzinfo=_zone()), mark.through)
        LenderCallSpan.objects.filter(start__gte=start, start__lt=start + DAY).delete()
        if start < end:
            _spans_add(start, end)
    return len(days)


def lender_call_spans_mark() -> datetime | None:
    return LenderCallSpanMark.objects.filter(pk=1).values_list("through", flat=True).first()


def window_tally(*, since: datetime, through: datetime, lender_ids: list[int]) -> dict[int, Tally]:
    """The calls started from `since` on, by lender: from the spans up to the mark `through`
    (whole hours and days from the first hour after `since`), from the calls themselves before
    that hour and from the mark on."""
    local = timezone.localtime(since, _zone())
    first_hour = local.replace(minute=0, second=0, microsecond=0)
    if first_hour < since:
        first_hour = (first_hour.astimezone(UTC) + HOUR).astimezone(_zone())
    first_day = _day_start(first_hour)
    if first_day < first_hour:
        first_day = datetime.combine(first_day.date() + DAY, time.min, tzinfo=_zone())
    if through <= first_hour:  # nothing whole in the spans yet
        return calls_tally(since, None, lender_ids)
    tallies: dict[int, Tally] = defaultdict(Tally)
    for part in (calls_tally(since, first_hour, lender_ids), calls_tally(through, None, lender_ids)):
        for lender_id, tally in part.items():
            tallies[lender_id].add(tally.outcomes, tally.latency)
    spans = LenderCallSpan.objects.filter(lender_id__in=lender_ids, start__gte=first_hour, start__lt=through)
    hours = spans.filter(span=LenderCallSpan.Span.HOUR, start__lt=first_day)
    days = spans.filter(span=LenderCallSpan.Span.DAY)
    for lender_id, outcomes, latency in hours.union(days, all=True).values_list("lender_id", "outcomes", "latency"):
        tallies[lender_id].add(outcomes, latency)
    return tallies
