"""The marketplace funnel per campaign, origin or lender, with spend and cost per result.

Each stage is counted on the marketplace day it happened (like spend), so a period's cost per
result divides that period's spend by that period's results:

    views → leads (delivered) → decisions → approved decisions → submitted → handed off
          → approved (postback) → disbursed (postback)

Views come from the catalog's daily counters; leads, postback results and spend from the
ledger (a result charged once per lead, whatever the postback repeats; "disbursed" implies
"approved", as billed); decisions and the flow's steps from the leads themselves.

Once the dashboards' periodic run has counted them (apps/leads/funnel_rollup.py), every stage
but the views is read from FunnelStageDay, a row per day and group, and only what happened
since its mark (minutes) from the raw rows: a month's report costs the same with a year of
leads behind it as with a week's. Before its first run, everything is read from the raw rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, F, Min, OuterRef, Q, Sum

from apps.campaigns.models import Campaign, LedgerEntry
from apps.campaigns.selectors import marketplace_zone
from apps.leads.funnel_rollup import (
    CHARGED, JOURNEY_COUNTS, LEAD_BATCH, funnel_stages_mark, leads_changed_after, leads_moves,
)
from apps.leads.models import Decision, FunnelStageDay, FunnelStageMark, Lead
from apps.lenders.models import Lender
from apps.listings.models import ListingDailyViews
from apps.origins.models import Origin

CENT = Decimal("0.01")
GROUPS = {"campaign": "Campaign", "origin": "Origin", "lender": "Lender"}
STAGES = [
    ("views", "Views"), ("leads", "Leads delivered"), ("decisions", "Decisions"),
    ("approved_decisions", "Approved decisions"),
    ("submitted", "Submitted"), ("handed_off", "Handed off"), ("approved", "Approved (postback)"),
    ("disbursed", "Disbursed (postback)"),
]


@dataclass
class FunnelRow:
    key: int
    label: str
    counts: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _ in STAGES})
    spend: dict[str, Decimal] = field(default_factory=dict)  # by currency

    @property
    def spend_text(self) -> str:
        return "; ".join(f"{amount} {currency}" for currency, amount in sorted(self.spend.items())) or "0"

    def cost_per(self, stage: str) -> Decimal | None:
        """Spend divided by a stage's count; None with no results or spend in several currencies."""
        if len(self.spend) != 1 or not self.counts[stage]:
            return None
        (amount,) = self.spend.values()
        return (amount / self.counts[stage]).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FunnelReport:
    group_by: str
    date_from: date
    date_to: date
    rows: list[FunnelRow]


def counted_in_funnel() -> Q:
    """The leads whose own rows some stage below counts (decisions, submitted, handed off): a
    lead of a campaign with a decision or a submission. Retention keeps these rows (anonymised),
    so a past period's funnel reads the same after a purge (apps/leads/retention.py)."""
    return Q(campaign__isnull=False) & (
        Q(submitted_at__isnull=False) | Q(handed_off_at__isnull=False)
        | Q(Exists(Decision.objects.filter(lead=OuterRef("pk"))))
    )


def _moment(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=marketplace_zone())


# Each source's column of each grouping.
KEYS = {
    "views": {"campaign": "campaign_id", "origin": "origin_id", "lender": "campaign__lender_id"},
    "ledger": {"campaign": "campaign_id", "origin": "origin_id", "lender": "lender_id"},
    "lead": {"campaign": "campaign_id", "origin": "origin_id", "lender": "lender_id"},
    "stage": {"campaign": "campaign_id", "origin": "origin_id", "lender": "lender_id"},
}


def funnel_report(*, date_from: date, date_to: date, group_by: str = "campaign") -> FunnelReport:
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    days = {"day__gte": date_from, "day__lte": date_to}
    rows: dict[int, FunnelRow] = {}

    def add(source: str, queryset, stage_values: dict[str, str]) -> None:
        key = KEYS[source][group_by]
        # Aliased: a stage's name may be a relation's too (a lead's `decisions`).
        for values in queryset.values(group_key=F(key)).annotate(**{
            f"stage_{name}": aggregate for name, aggregate in stage_values.items()
        }).order_by():
            if values["group_key"] is None:
                continue
            row = rows.setdefault(values["group_key"], FunnelRow(key=values["group_key"], label=""))
            for name in stage_values:
                row.counts[name] += values[f"stage_{name}"] or 0

    add("views", ListingDailyViews.objects.filter(**days), {"views": Sum("views")})
    mark = funnel_stages_mark()
    if mark is None or mark.through <= _moment(date_from):
        ledger = LedgerEntry.objects.filter(**days)
        spend = _raw_stages(add, group_by, date_from=date_from, date_to=date_to, ledger=ledger)
    else:
        spend = _rolled_up_stages(add, rows, group_by, date_from=date_from, date_to=date_to, mark=mark)
    for values in spend:
        row = rows.setdefault(values["group_key"], FunnelRow(key=values["group_key"], label=""))
        total = row.spend.get(values["currency"], Decimal(0)) + Decimal(values["total"])
        row.spend[values["currency"]] = total.quantize(CENT)  # two decimals, whatever scale the sum has

    _label(rows, group_by)
    ordered = sorted(rows.values(), key=lambda row: (row.label.lower(), row.key))
    return FunnelReport(group_by=group_by, date_from=date_from, date_to=date_to, rows=ordered)


def _ledger_stages(add, ledger) -> None:
    add("ledger", ledger, {
        "leads": Count("id", filter=Q(kind=LedgerEntry.Kind.LEAD)),
        "approved": Count("id", filter=Q(kind=LedgerEntry.Kind.APPROVED)),
        "disbursed": Count("id", filter=Q(kind=LedgerEntry.Kind.DISBURSED)),
    })


def _raw_stages(add, group_by: str, *, date_from: date, date_to: date, ledger) -> list[dict]:
    """Every stage but the views from the raw rows (before the rollup's first run, or for a period
    after its mark); returns the spend by group and currency."""
    start, end = _moment(date_from), _moment(date_to + timedelta(days=1))
    _ledger_stages(add, ledger)
    leads = Lead.objects.filter(campaign__isnull=False)
    in_period = {"decisions__created_at__gte": start, "decisions__created_at__lt": end}
    # The leads of the period's decisions, from their earliest: lead ids grow with time, and
    # without that bound PostgreSQL joined the decisions to every lead ever (2 million leads: 0.55 s
    # of the report's 0.68 s, bench/scale.py). `+ 0` keeps it from reading the lead_id index from
    # its first entry on, looking for one in the period.
    first_lead = Decision.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        first=Min(F("lead_id") + 0))["first"]
    if first_lead is not None:
        decided = leads.filter(pk__gte=first_lead, decisions__lender_id=F("lender_id"), **in_period)
        add("lead", decided, {
            "decisions": Count("decisions"),
            "approved_decisions": Count("decisions", filter=Q(decisions__outcome=Decision.Outcome.APPROVED)),
        })
    add("lead", leads.filter(submitted_at__gte=start, submitted_at__lt=end), {"submitted": Count("id")})
    add("lead", leads.filter(handed_off_at__gte=start, handed_off_at__lt=end), {"handed_off": Count("id")})
    return list(_spend(ledger, KEYS["ledger"], group_by))


def _spend(queryset, keys: dict[str, str], group_by: str):
    return queryset.values("currency", group_key=F(keys[group_by])).annotate(total=Sum("amount")).order_by()


def _rolled_up_stages(add, rows: dict[int, FunnelRow], group_by: str, *, date_from: date, date_to: date,
                      mark: FunnelStageMark) -> list[dict]:
    """Every stage but the views from the rollup (apps/leads/funnel_rollup.py), and what happened
    since its mark from the raw rows: the ledger's entries created since, and the leads changed
    since, each moved from where the rollup counted it to where it counts now."""
    rolled = FunnelStageDay.objects.filter(day__gte=date_from, day__lte=date_to)
    add("stage", rolled, {name: Sum(name) for name in (*CHARGED, *JOURNEY_COUNTS)})
    ledger = LedgerEntry.objects.filter(day__gte=date_from, day__lte=date_to, created_at__gte=mark.through)
    _ledger_stages(add, ledger)
    changed = leads_changed_after(mark)
    for first in range(0, len(changed), LEAD_BATCH):
        deltas, _ = leads_moves(changed[first:first + LEAD_BATCH])
        for (day, *group), counts in deltas.items():
            key = dict(zip(("origin", "lender", "campaign"), group[:3], strict=True))[group_by]
            if not date_from <= day <= date_to or key is None:
                continue
            row = rows.setdefault(key, FunnelRow(key=key, label=""))
            for name, count in zip(JOURNEY_COUNTS, counts, strict=True):
                row.counts[name] += count
    spend = rolled.exclude(currency="").values("currency", group_key=F(KEYS["stage"][group_by])).annotate(
        total=Sum("spend")).order_by()
    return [*spend, *_spend(ledger, KEYS["ledger"], group_by)]


def _label(rows: dict[int, FunnelRow], group_by: str) -> None:
    model = {"campaign": Campaign, "origin": Origin, "lender": Lender}[group_by]
    names = dict(model.objects.filter(pk__in=rows).values_list("pk", "name"))
    for key, row in rows.items():
        row.label = names.get(key, f"#{key}")


COST_STAGES = [("leads", "Cost per lead"), ("approved", "Cost per approval"), ("disbursed", "Cost per disbursement")]


def funnel_report_csv(report: FunnelReport) -> str:
    """The report as CSV: one row per group, amounts as plain decimals (no thousands separators)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([GROUPS[report.group_by], *(label for _, label in STAGES), "Spend",
                     *(label for _, label in COST_STAGES)])
    for row in report.rows:
        costs = [row.cost_per(stage) for stage, _ in COST_STAGES]
        writer.writerow([row.label, *(row.counts[name] for name, _ in STAGES), row.spend_text,
                         *("" if cost is None else cost for cost in costs)])
    return buffer.getvalue()


def funnel_defaults(today: date) -> tuple[date, date]:
    """The last 30 marketplace days, today included."""
    return today - timedelta(days=29), today

