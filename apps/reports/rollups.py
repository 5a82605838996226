"""Keeping the daily rollups (apps/reports/models.py) up to date: incremental and idempotent.

Each kind keeps a watermark (RollupState). A run finds the marketplace days touched by rows
written since the watermark (less a margin, for transactions that committed after the time
they stamped), rebuilds exactly those days from the raw rows, and moves the watermark. A day
is rebuilt whole (delete, then insert, in one transaction), or for the funnel each changed lead
is moved (below), so a run repeated, or a day rebuilt again, gives the same rows; a late event
(a postback on a lead started last week, a pending decision answered tomorrow) touches its day
again and is counted there.

- funnel: leads by the day they started (their cohort). A lead's row changes whenever it moves
  (Lead.updated_at, indexed). The first run counts every day; later runs move only the counts of
  the leads changed since the watermark, from the group and stages FunnelLead kept for each to
  the ones it has now: a postback on a lead of last March costs that lead, not last March's
  thousands (rebuilding each touched day whole took 28 s a run at 2 million leads, bench/scale.py).
- lenders: outbound calls by the day they started, and circuit changes; calls finish within
  minutes of their start, so a run rebuilds the days from its watermark (less an hour) on.
- postbacks: events by the day they were received, refusals by the hour they were counted in.
- campaigns: ledger entries by their marketplace day.
- stages: the funnel report's stages by the day each happened (apps/leads/funnel_rollup.py).
- calls: the lender call statistics' spans, by hour and day (apps/lenders/call_spans.py).

Retention (apps/lifecycle) deletes abandoned leads after RETENTION_ABANDONED_LEADS_DAYS and
refused-request counts after RETENTION_REFUSED_REQUESTS_DAYS. Rows already rolled up keep
counting them; but a day rebuilt after its raw rows were purged (a postback arriving half a year
after its lead started, or `reports_rollup --from` over old days) counts only what is left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.selectors import marketplace_day, marketplace_zone
from apps.leads.funnel_rollup import funnel_stages_days_rebuild, funnel_stages_refresh
from apps.leads.models import Lead, Offer
from apps.lenders.call_spans import lender_call_spans_rebuild, lender_call_spans_refresh
from apps.lenders.models import CircuitChange, CircuitState, Lender, LenderCall, PostbackAuthFailure
from apps.lenders.selectors import LATENCY_TARGET_MS, OUTBOUND_CAPABILITIES, PercentileDisc
from apps.postbacks.models import PostbackEvent
from apps.reports.models import CampaignDay, FunnelDay, FunnelLead, LenderDay, PostbackDay, RollupState
from apps.reports.rows import funnel_days_add

# How long before its timestamp a row may become visible (a transaction committing late).
MARGIN = timedelta(minutes=15)
# Calls are stamped when they start and finish at most a few minutes later (30 s deadline, retries
# are new calls): a run rebuilds the days of calls started this long before its watermark.
CALL_MARGIN = timedelta(hours=1)
APPROVED_EVENTS = (PostbackEvent.Status.APPROVED, PostbackEvent.Status.DISBURSED)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=marketplace_zone())


def _span(days: set[date]) -> tuple[datetime, datetime]:
    return _start(min(days)), _start(max(days) + timedelta(days=1))


def _within(field: str, days: set[date]) -> Q:
    """`field` on one of `days`: a range per run of consecutive days, so scattered days (late
    events on old leads) read only their own rows."""
    ordered, condition = sorted(days), Q()
    first = previous = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day == previous + timedelta(days=1):
            previous = day
            continue
        condition |= Q(**{f"{field}__gte": _start(first), f"{field}__lt": _start(previous + timedelta(days=1))})
        first = previous = day
    return condition


def _of_every_lender(*, nullable: bool = False) -> Q:
    """Every lender, named: calls and events are indexed by (lender, time), and a time range alone
    read that whole index (10 million entries at bench/scale.py's size, 4.8 s a run)."""
    lenders = Q(lender_id__in=list(Lender.objects.values_list("pk", flat=True)))
    return lenders | Q(lender__isnull=True) if nullable else lenders


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=marketplace_zone())


def days_between(first: date, last: date) -> set[date]:
    return {first + timedelta(days=offset) for offset in range((last - first).days + 1)}


# --- funnel -------------------------------------------------------------------------------------

FUNNEL_GROUP = ("day", "origin_id", "lender_id", "campaign_id")
FUNNEL_STAGES = ("identity", "decision", "offer", "handed_off", "approved", "disbursed")
# Changed leads read per query by an incremental run.
FUNNEL_BATCH = 2000


def _funnel_touched(since: datetime | None, now: datetime) -> set[date]:
    leads = Lead.objects.all() if since is None else Lead.objects.filter(updated_at__gte=since)
    return set(leads.annotate(day=_day("created_at")).values_list("day", flat=True).distinct().order_by())


def _lead_stages(leads) -> list[dict]:
    """Each lead's group and the stages it has reached, from the raw rows."""
    events = PostbackEvent.objects.filter(lead=OuterRef("pk"), effect=PostbackEvent.Effect.APPLIED)
    reached = {
        "identity": Q(identity_at__isnull=False), "decision": Q(decided_at__isnull=False),
        "handed_off": Q(handed_off_at__isnull=False),
    }
    return list(leads.annotate(
        day=_day("created_at"),
        **{stage: ExpressionWrapper(condition, output_field=BooleanField()) for stage, condition in reached.items()},
        offer=Exists(Offer.objects.filter(decision__lead=OuterRef("pk"))),
        approved=Exists(events.filter(status__in=APPROVED_EVENTS)),
        disbursed=Exists(events.filter(status=PostbackEvent.Status.DISBURSED)),
    ).values("pk", *FUNNEL_GROUP, *FUNNEL_STAGES).order_by())


def _counts(stages) -> tuple[int, ...]:
    """started, then 1 per stage reached, of a lead (a dict of _lead_stages, or a FunnelLead)."""
    get = stages.get if isinstance(stages, dict) else partial(getattr, stages)
    return (1, *(int(bool(get(stage))) for stage in FUNNEL_STAGES))


def _group(stages) -> tuple:
    get = stages.get if isinstance(stages, dict) else partial(getattr, stages)
    return tuple(get(name) for name in FUNNEL_GROUP)


def _funnel_leads_keep(rows: list[dict]) -> None:
    FunnelLead.objects.bulk_create(
        [FunnelLead(lead_id=row["pk"], **{name: row[name] for name in (*FUNNEL_GROUP, *FUNNEL_STAGES)}) for row in rows],
        update_conflicts=True, unique_fields=["lead"], update_fields=[*FUNNEL_GROUP, *FUNNEL_STAGES],
        batch_size=FUNNEL_BATCH,  # a statement's parameters stay well under PostgreSQL's 65,535
    )


def funnel_days_rebuild(days: set[date]) -> int:
    """Count the leads started on `days` again from the raw rows, day by day (bounded memory):
    their FunnelLead rows, and the days' FunnelDay rows from them."""
    built = 0
    for day in sorted(days):
        rows = _lead_stages(Lead.objects.filter(_within("created_at", {day})))
        rows = [row for row in rows if row["day"] == day]
        totals: dict[tuple, list[int]] = defaultdict(lambda: [0] * (1 + len(FUNNEL_STAGES)))
        for row in rows:
            totals[_group(row)] = [a + b for a, b in zip(totals[_group(row)], _counts(row), strict=True)]
        FunnelLead.objects.filter(day=day).delete()
        _funnel_leads_keep(rows)
        FunnelDay.objects.filter(day=day).delete()
        FunnelDay.objects.bulk_create(
            [FunnelDay(**dict(zip(FUNNEL_GROUP, group, strict=True)),
                       **dict(zip(("started", *FUNNEL_STAGES), counts, strict=True))) for group, counts in totals.items()])
        built += len(totals)
    return built


def funnel_refresh(since: datetime | None, now: datetime) -> int:
    """The first run rebuilds every day; later runs move the counts of the leads changed since the
    watermark only (FunnelLead), however many days those leads started on. Returns the number of
    days whose counts were looked at."""
    if since is None:
        days = _funnel_touched(None, now)
        if days:
            funnel_days_rebuild(days)
        return len(days)
    changed = Lead.objects.filter(updated_at__gte=since).order_by("pk").values_list("pk", flat=True)
    days: set[date] = set()
    after = 0
    while batch := list(changed.filter(pk__gt=after)[:FUNNEL_BATCH]):
        days |= _funnel_leads_recount(batch)
        after = batch[-1]
    return len(days)


def _funnel_leads_recount(lead_ids: list[int]) -> set[date]:
    """Move these leads' counts in FunnelDay from where FunnelLead says they were counted to
    where they stand now; returns their days."""
    rows = _lead_stages(Lead.objects.filter(pk__in=lead_ids))
    kept = {row.lead_id: row for row in FunnelLead.objects.filter(lead_id__in=lead_ids)}
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0] * (1 + len(FUNNEL_STAGES)))
    moved = []
    for row in rows:
        group, counts = _group(row), _counts(row)
        before = kept.get(row["pk"])
        if before is not None:
            if (_group(before), _counts(before)) == (group, counts):
                continue
            deltas[_group(before)] = [a - b for a, b in zip(deltas[_group(before)], _counts(before), strict=True)]
        deltas[group] = [a + b for a, b in zip(deltas[group], counts, strict=True)]
        moved.append(row)
    deltas = {group: counts for group, counts in deltas.items() if any(counts)}
    if deltas:
        funnel_days_add(deltas)
    if moved:
        _funnel_leads_keep(moved)
    return {row["day"] for row in rows}


# --- lenders ------------------------------------------------------------------------------------


def _first_day(queryset, field: str) -> date | None:
    first = queryset.aggregate(first=Min(field))["first"]
    return marketplace_day(first) if first is not None else None


def _range_touched(since: datetime | None, now: datetime, *sources: tuple) -> set[date]:
    """The days from the watermark on, or on the first run every day since the oldest row."""
    if since is not None:
        return days_between(marketplace_day(since), marketplace_day(now))
    firsts = [first for queryset, field in sources if (first := _first_day(queryset, field)) is not None]
    return days_between(min(firsts), marketplace_day(now)) if firsts else set()


def _lenders_touched(since: datetime | None, now: datetime) -> set[date]:
    return _range_touched(since and since - CALL_MARGIN, now, (LenderCall.objects, "started_at"),
                          (CircuitChange.objects, "changed_at"))


def lender_days_rebuild(days: set[date]) -> int:
    start, end = _span(days)
    deciding = Q(capability__in=[LenderCall.Capability.PREQUALIFY, LenderCall.Capability.POLL])
    calls = (
        LenderCall.objects.filter(_of_every_lender(), started_at__gte=start, started_at__lt=end,
                                  capability__in=OUTBOUND_CAPABILITIES)
        .exclude(outcome=LenderCall.Outcome.IN_FLIGHT)
        .annotate(day=_day("started_at")).values("day", "lender_id")
        .annotate(
            calls=Count("id"),
            p50_ms=PercentileDisc("duration_ms", fraction=0.50), p95_ms=PercentileDisc("duration_ms", fraction=0.95),
            over_target=Count("id", filter=Q(duration_ms__gt=LATENCY_TARGET_MS)),
            technical_failures=Count("id", filter=Q(outcome=LenderCall.Outcome.TECHNICAL_FAILURE)),
            permanent_failures=Count("id", filter=Q(outcome=LenderCall.Outcome.PERMANENT_FAILURE)),
            approved=Count("id", filter=deciding & Q(outcome=LenderCall.Outcome.APPROVED)),
            rejected=Count("id", filter=deciding & Q(outcome=LenderCall.Outcome.REJECTED)),
        ).order_by()
    )
    built: dict[tuple, LenderDay] = {(row["day"], row["lender_id"]): LenderDay(**row) for row in calls}
    changes = (
        CircuitChange.objects.filter(changed_at__gte=start, changed_at__lt=end)
        .annotate(day=_day("changed_at")).values("day", "lender_id")
        .annotate(changes=Count("id"), opened=Count("id", filter=Q(to_state=CircuitState.OPEN))).order_by()
    )
    for row in changes:
        entry = built.setdefault((row["day"], row["lender_id"]), LenderDay(day=row["day"], lender_id=row["lender_id"]))
        entry.circuit_changes, entry.circuit_opened = row["changes"], row["opened"]
    kept = [entry for (day, _), entry in built.items() if day in days]
    LenderDay.objects.filter(day__in=days).delete()
    LenderDay.objects.bulk_create(kept)
    return len(kept)


# --- postbacks ----------------------------------------------------------------------------------


def _postbacks_touched(since: datetime | None, now: datetime) -> set[date]:
    # A refusal row counts into its hour's row until the hour is over: go back an hour.
    return _range_touched(since and since - timedelta(hours=1), now, (PostbackEvent.objects, "received_at"),
                          (PostbackAuthFailure.objects, "hour"))


def postback_days_rebuild(days: set[date]) -> int:
    start, end = _span(days)
    late = timedelta(seconds=settings.REPORTS_LATE_POSTBACK_SECONDS)
    effect = PostbackEvent.Effect
    events = (
        PostbackEvent.objects.filter(_of_every_lender(nullable=True), received_at__gte=start, received_at__lt=end)
        .annotate(day=_day("received_at")).values("day", "lender_id")
        .annotate(
            accepted=Count("id", filter=~Q(effect=effect.UNMATCHED)),
            applied=Count("id", filter=Q(effect=effect.APPLIED)),
            repeats=Count("id", filter=Q(is_repeat=True)),
            unmatched=Count("id", filter=Q(effect=effect.UNMATCHED)),
            contradicts=Count("id", filter=Q(effect=effect.CONTRADICTS)),
            late=Count("id", filter=Q(occurred_at__lt=F("received_at") - late)),
        ).order_by()
    )
    built: dict[tuple, PostbackDay] = {(row["day"], row["lender_id"]): PostbackDay(**row) for row in events}
    refusals = (
        PostbackAuthFailure.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=_day("hour")).values("day", "lender_id", "reason").annotate(total=Sum("count")).order_by()
    )
    for row in refusals:
        entry = built.setdefault((row["day"], row["lender_id"]), PostbackDay(day=row["day"], lender_id=row["lender_id"]))
        entry.refused = {**entry.refused, row["reason"]: row["total"]}
    kept = [entry for (day, _), entry in built.items() if day in days]
    PostbackDay.objects.filter(day__in=days).delete()
    PostbackDay.objects.bulk_create(kept)
    return len(kept)


# --- campaigns ----------------------------------------------------------------------------------


def _campaigns_touched(since: datetime | None, now: datetime) -> set[date]:
    return _range_touched(since, now, (LedgerEntry.objects, "created_at"))


def campaign_days_rebuild(days: set[date]) -> int:
    kind = LedgerEntry.Kind
    rows = (
        LedgerEntry.objects.filter(day__in=days).values("day", "campaign_id")
        .annotate(
            spend=Sum("amount"), leads=Count("id", filter=Q(kind=kind.LEAD)),
            approved=Count("id", filter=Q(kind=kind.APPROVED)), disbursed=Count("id", filter=Q(kind=kind.DISBURSED)),
        ).order_by()
    )
    built = [CampaignDay(**row) for row in rows]
    CampaignDay.objects.filter(day__in=days).delete()
    CampaignDay.objects.bulk_create(built)
    return len(built)


# --- running them -------------------------------------------------------------------------------


def _from_watermark(since: datetime | None, now: datetime) -> set[date]:
    return days_between(marketplace_day(since or now), marketplace_day(now))


@dataclass(frozen=True)
class Rollup:
    touched: Callable[[datetime | None, datetime], set[date]]
    rebuild: Callable[[set[date]], int]
    # A run from the watermark: by default the touched days rebuilt whole; returns how many days.
    refresh: Callable[[datetime | None, datetime], int] | None = None

    def run(self, since: datetime | None, now: datetime) -> int:
        if self.refresh is not None:
            return self.refresh(since, now)
        days = self.touched(since, now)
        if days:
            self.rebuild(days)
        return len(days)


ROLLUPS: dict[str, Rollup] = {
    "funnel": Rollup(_funnel_touched, funnel_days_rebuild, refresh=funnel_refresh),
    "lenders": Rollup(_lenders_touched, lender_days_rebuild),
    "postbacks": Rollup(_postbacks_touched, postback_days_rebuild),
    "campaigns": Rollup(_campaigns_touched, campaign_days_rebuild),
    # The funnel report's stages by the day each happened (apps/leads/funnel_rollup.py), with its
    # own mark: the report reads the raw rows from there on.
    "stages": Rollup(_from_watermark, funnel_stages_days_rebuild,
                     refresh=lambda since, now: funnel_stages_refresh(now)),
    # The lender call statistics' hourly and daily spans (apps/lenders/call_spans.py), with their
    # own mark.
    "calls": Rollup(_from_watermark, lender_call_spans_rebuild,
                    refresh=lambda since, now: lender_call_spans_refresh(now)),
}


def rollups_refresh(*, now: datetime | None = None, kinds: Iterable[str] | None = None) -> dict[str, int]:
    """Bring each kind's rollup up to date; returns how many days each looked at. Runs of the same
    kind are serialised by a lock on its RollupState row (a second one waits, then finds little
    left to do)."""
    now = now or timezone.now()
    rebuilt = {}
    for kind in kinds or ROLLUPS:
        RollupState.objects.get_or_create(kind=kind)
        with transaction.atomic():
            state = RollupState.objects.select_for_update().get(kind=kind)
            since = state.watermark - MARGIN if state.watermark else None
            days = ROLLUPS[kind].run(since, now)
            state.watermark, state.ran_at, state.days_rebuilt = now, timezone.now(), days
            state.save()
        rebuilt[kind] = days
    return rebuilt


def rollups_rebuild(*, date_from: date, date_to: date, kinds: Iterable[str] | None = None) -> dict[str, int]:
    """Rebuild the days of a period whatever the watermarks say (a backfill, or a check that a
    period rebuilt gives the same rows). Leaves the watermarks where they are."""
    days = days_between(date_from, date_to)
    rebuilt = {}
    for kind in kinds or ROLLUPS:
        with transaction.atomic():
            RollupState.objects.get_or_create(kind=kind)
            RollupState.objects.select_for_update().get(kind=kind)
            rebuilt[kind] = ROLLUPS[kind].rebuild(days)
    return rebuilt
