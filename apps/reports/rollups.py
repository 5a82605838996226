"""Keeping the daily rollups (apps/reports/models.py) up to date: incremental and idempotent.

Each kind keeps a watermark (RollupState). A run finds the marketplace days touched by rows
written since the watermark (less a margin, for transactions that committed after the time
they stamped), rebuilds exactly those days from the raw rows, and moves the watermark. A day
is rebuilt whole (delete, then insert, in one transaction), so a run repeated, or a day
rebuilt again, gives the same rows; a late event (a postback on a lead started last week, a
pending decision answered tomorrow) touches its day again and is counted there.

- funnel: leads by the day they started (their cohort). A lead's row changes whenever it moves
  (Lead.updated_at, indexed), so the touched days are those leads' start days.
- lenders: outbound calls by the day they started, and circuit changes; calls finish within
  minutes of their start, so a run rebuilds the days from its watermark (less an hour) on.
- postbacks: events by the day they were received, refusals by the hour they were counted in.
- campaigns: ledger entries by their marketplace day.

Retention (apps/lifecycle) deletes abandoned leads after RETENTION_ABANDONED_LEADS_DAYS and
refused-request counts after RETENTION_REFUSED_REQUESTS_DAYS. Rows already rolled up keep
counting them; but a day rebuilt after its raw rows were purged (a postback arriving half a year
after its lead started, or `reports_rollup --from` over old days) counts only what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.selectors import marketplace_day, marketplace_zone
from apps.leads.models import Lead, Offer
from apps.lenders.models import CircuitChange, CircuitState, LenderCall, PostbackAuthFailure
from apps.lenders.selectors import LATENCY_TARGET_MS, OUTBOUND_CAPABILITIES, PercentileDisc
from apps.postbacks.models import PostbackEvent
from apps.reports.models import CampaignDay, FunnelDay, LenderDay, PostbackDay, RollupState

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


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=marketplace_zone())


def days_between(first: date, last: date) -> set[date]:
    return {first + timedelta(days=offset) for offset in range((last - first).days + 1)}


# --- funnel -------------------------------------------------------------------------------------


def _funnel_touched(since: datetime | None, now: datetime) -> set[date]:
    leads = Lead.objects.all() if since is None else Lead.objects.filter(updated_at__gte=since)
    return set(leads.annotate(day=_day("created_at")).values_list("day", flat=True).distinct().order_by())


def funnel_days_rebuild(days: set[date]) -> int:
    events = PostbackEvent.objects.filter(lead=OuterRef("pk"), effect=PostbackEvent.Effect.APPLIED)
    rows = (
        Lead.objects.filter(_within("created_at", days))
        .annotate(day=_day("created_at")).values("day", "origin_id", "lender_id", "campaign_id")
        .annotate(
            started=Count("id"),
            identity=Count("id", filter=Q(identity_at__isnull=False)),
            decision=Count("id", filter=Q(decided_at__isnull=False)),
            offer=Count("id", filter=Q(Exists(Offer.objects.filter(decision__lead=OuterRef("pk"))))),
            handed_off=Count("id", filter=Q(handed_off_at__isnull=False)),
            approved=Count("id", filter=Q(Exists(events.filter(status__in=APPROVED_EVENTS)))),
            disbursed=Count("id", filter=Q(Exists(events.filter(status=PostbackEvent.Status.DISBURSED)))),
        ).order_by()
    )
    built = [FunnelDay(**row) for row in rows if row["day"] in days]
    FunnelDay.objects.filter(day__in=days).delete()
    FunnelDay.objects.bulk_create(built)
    return len(built)


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
        LenderCall.objects.filter(started_at__gte=start, started_at__lt=end, capability__in=OUTBOUND_CAPABILITIES)
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
        PostbackEvent.objects.filter(received_at__gte=start, received_at__lt=end)
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


@dataclass(frozen=True)
class Rollup:
    touched: Callable[[datetime | None, datetime], set[date]]
    rebuild: Callable[[set[date]], int]


ROLLUPS: dict[str, Rollup] = {
    "funnel": Rollup(_funnel_touched, funnel_days_rebuild),
    "lenders": Rollup(_lenders_touched, lender_days_rebuild),
    "postbacks": Rollup(_postbacks_touched, postback_days_rebuild),
    "campaigns": Rollup(_campaigns_touched, campaign_days_rebuild),
}


def rollups_refresh(*, now: datetime | None = None, kinds: Iterable[str] | None = None) -> dict[str, int]:
    """Bring each kind's rollup up to date; returns how many days each rebuilt. Runs of the same
    kind are serialised by a lock on its RollupState row (a second one waits, then finds little
    left to do)."""
    now = now or timezone.now()
    rebuilt = {}
    for kind in kinds or ROLLUPS:
        RollupState.objects.get_or_create(kind=kind)
        with transaction.atomic():
            state = RollupState.objects.select_for_update().get(kind=kind)
            since = state.watermark - MARGIN if state.watermark else None
            days = ROLLUPS[kind].touched(since, now)
            if days:
                ROLLUPS[kind].rebuild(days)
            state.watermark, state.ran_at, state.days_rebuilt = now, timezone.now(), len(days)
            state.save()
        rebuilt[kind] = len(days)
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
