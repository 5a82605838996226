"""The dashboards' charts, read from the daily rollups alone (never the raw rows): a few small
grouped queries per dashboard, whatever the number of leads, calls or events behind them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from apps.campaigns.models import Campaign
from apps.lenders.models import CircuitChange, Lender
from apps.lenders.selectors import LATENCY_TARGET_MS
from apps.origins.models import Origin
from apps.reports.charts import PALETTE_SIZE, Chart, Series
from apps.reports.models import CampaignDay, FunnelDay, LenderDay, PostbackDay
from apps.reports.rollups import days_between

FUNNEL_STAGES = [("started", "Started"), ("identity", "Identity"), ("decision", "Decision"), ("offer", "Offer"),
                 ("handed_off", "Handed off"), ("approved", "Approved"), ("disbursed", "Disbursed")]
GROUPS = {"origin": Origin, "lender": Lender, "campaign": Campaign}


@dataclass(frozen=True)
class Filters:
    date_from: date
    date_to: date
    origin_id: int | None = None
    lender_id: int | None = None
    campaign_id: int | None = None
    group: str = "origin"

    @property
    def days(self) -> list[date]:
        return sorted(days_between(self.date_from, self.date_to))

    @property
    def labels(self) -> list[str]:
        return [day.isoformat() for day in self.days]

    def rows(self, model, *fields: str):
        rows = model.objects.filter(day__gte=self.date_from, day__lte=self.date_to)
        for name in fields:
            value = getattr(self, f"{name}_id")
            if value is not None:
                rows = rows.filter(**{f"{name}_id": value})
        return rows


def _names(model, keys) -> dict:
    return dict(model.objects.filter(pk__in=[key for key in keys if key is not None]).values_list("pk", "name"))


def _by_day(filters: Filters, totals: dict[date, float | int | None]) -> list:
    return [totals.get(day) for day in filters.days]


def _top(keys_by_weight: dict, limit: int = PALETTE_SIZE) -> list:
    """The heaviest groups, as many as the palette tells apart."""
    return [key for key, _ in sorted(keys_by_weight.items(), key=lambda item: -item[1])[:limit]]


# --- funnel -------------------------------------------------------------------------------------


def funnel_charts(filters: Filters) -> list[Chart]:
    rows = filters.rows(FunnelDay, "origin", "lender", "campaign")
    stages = [name for name, _ in FUNNEL_STAGES]
    totals = rows.aggregate(**{name: Sum(name) for name in stages})
    funnel = Chart("funnel", "Funnel: leads started in the period and how far they got", "bar",
                   [label for _, label in FUNNEL_STAGES], [Series("Leads", [totals[name] or 0 for name in stages])],
                   unit="leads")
    daily = {(row["day"]): row for row in rows.values("day").annotate(**{name: Sum(name) for name in stages})}
    by_day = Chart("funnel_by_day", "Funnel by day the lead started", "line", filters.labels, [
        Series(label, [(daily[day][name] if day in daily else 0) for day in filters.days])
        for name, label in FUNNEL_STAGES
    ], unit="leads")
    group = filters.group if filters.group in GROUPS else "origin"
    grouped = {row[f"{group}_id"]: row for row in rows.values(f"{group}_id").annotate(
        **{name: Sum(name) for name in stages}).order_by()}
    keys = _top({key: row["started"] for key, row in grouped.items()}, limit=12)
    names = _names(GROUPS[group], keys)
    labels = [names.get(key, "(none)") for key in keys]
    per_group = Chart("funnel_by_group", f"Funnel by {group}", "bar", labels, [
        Series(label, [grouped[key][name] for key in keys])
        for name, label in FUNNEL_STAGES if name in ("started", "decision", "handed_off", "disbursed")
    ], unit="leads")
    return [funnel, by_day, per_group]


# --- lenders ------------------------------------------------------------------------------------


def _lender_series(filters: Filters, rows, value) -> list[Series]:
    per_lender: dict[int, dict[date, LenderDay]] = defaultdict(dict)
    for row in rows:
        per_lender[row.lender_id][row.day] = row
    keys = _top({key: sum(row.calls for row in days.values()) for key, days in per_lender.items()})
    names = _names(Lender, keys)
    return [Series(names.get(key, f"#{key}"), [value(per_lender[key][day]) if day in per_lender[key] else None
                                                for day in filters.days]) for key in keys]


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def lender_charts(filters: Filters) -> list[Chart]:
    rows = list(filters.rows(LenderDay, "lender").order_by("day"))
    labels = filters.labels
    target = {"target": float(LATENCY_TARGET_MS), "target_label": "5 s target"}
    return [
        Chart("latency_p95", "Latency p95 per lender, against the 5 s target", "line", labels,
              _lender_series(filters, rows, lambda row: row.p95_ms), unit="ms", **target),
        Chart("latency_p50", "Latency p50 per lender", "line", labels,
              _lender_series(filters, rows, lambda row: row.p50_ms), unit="ms", **target),
        Chart("technical_failures", "Technical failures, % of calls", "line", labels,
              _lender_series(filters, rows, lambda row: _rate(row.technical_failures, row.calls)), unit="%"),
        Chart("approval_rate", "Approvals, % of decisions (approved or rejected)", "line", labels,
              _lender_series(filters, rows, lambda row: _rate(row.approved, row.approved + row.rejected)), unit="%"),
        Chart("circuit_changes", "Circuit breaker: times opened per day", "line", labels,
              _lender_series(filters, rows, lambda row: row.circuit_opened), unit="opened"),
    ]


def circuit_changes_recent(filters: Filters, limit: int = 20) -> list[CircuitChange]:
    """The latest circuit moves in the period (a handful of rows, by their own index)."""
    changes = CircuitChange.objects.select_related("lender").filter(
        changed_at__date__gte=filters.date_from - timedelta(days=1), changed_at__date__lte=filters.date_to + timedelta(days=1))
    if filters.lender_id is not None:
        changes = changes.filter(lender_id=filters.lender_id)
    return list(changes.order_by("-changed_at")[:limit])


# --- postbacks ----------------------------------------------------------------------------------


def postback_charts(filters: Filters) -> list[Chart]:
    rows = list(filters.rows(PostbackDay, "lender").filter(Q(lender__isnull=False)).order_by("day"))
    per_lender: dict[int, dict[date, PostbackDay]] = defaultdict(dict)
    for row in rows:
        per_lender[row.lender_id][row.day] = row
    keys = _top({key: sum(row.accepted + row.unmatched for row in days.values()) for key, days in per_lender.items()})
    names = _names(Lender, keys)

    def series(value) -> list[Series]:
        return [Series(names.get(key, f"#{key}"), [value(per_lender[key][day]) if day in per_lender[key] else 0
                                                    for day in filters.days]) for key in keys]

    refused: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        for reason, count in row.refused.items():
            refused[reason][row.lender_id] += count
    reasons = sorted(refused)
    kinds = [("accepted", "Accepted"), ("repeats", "Repeats"), ("unmatched", "Unmatched"),
             ("contradicts", "Contradicting"), ("late", "Late")]
    return [
        Chart("accepted", "Postbacks accepted per lender", "line", filters.labels,
              series(lambda row: row.accepted), unit="events"),
        Chart("late", "Late postbacks (received well after they occurred)", "line", filters.labels,
              series(lambda row: row.late), unit="events"),
        Chart("refused", "Refused requests by reason", "bar", reasons,
              [Series(names.get(key, f"#{key}"), [refused[reason].get(key, 0) for reason in reasons]) for key in keys],
              unit="requests"),
        Chart("health", "Postback health over the period", "bar", [label for _, label in kinds],
              [Series(names.get(key, f"#{key}"), [sum(getattr(row, name) for row in per_lender[key].values())
                                                   for name, _ in kinds]) for key in keys], unit="events"),
    ]


# --- campaigns ----------------------------------------------------------------------------------


def campaign_charts(filters: Filters) -> list[Chart]:
    campaigns = Campaign.objects.order_by("name")
    if filters.campaign_id is not None:
        campaigns = campaigns.filter(pk=filters.campaign_id)
    rows = filters.rows(CampaignDay, "campaign")
    spent = {row.campaign_id: {} for row in rows}
    for row in rows:
        spent[row.campaign_id][row.day] = row
    keys = _top({key: sum(row.spend for row in days.values()) for key, days in spent.items()})
    chosen = {campaign.pk: campaign for campaign in campaigns.filter(pk__in=keys)}
    keys = [key for key in keys if key in chosen]
    before = {row["campaign_id"]: row for row in CampaignDay.objects.filter(
        campaign_id__in=keys, day__lt=filters.date_from).values("campaign_id").annotate(
        spend=Sum("spend"), leads=Sum("leads")).order_by()}
    single = chosen[keys[0]] if len(keys) == 1 else None

    def used(key: int, name: str, limit) -> list:
        """The campaign's `name` to date (from its first day, not the period's), in % of `limit`."""
        total, values = (before.get(key) or {}).get(name) or Decimal(0), []
        for day in filters.days:
            total += getattr(spent[key][day], name) if day in spent[key] else 0
            values.append(round(float(100 * total / limit), 1) if limit else None)
        return values

    leads_target = {"target": float(single.daily_lead_cap), "target_label": "daily lead cap"} \
        if single is not None and single.daily_lead_cap else {}
    return [
        Chart("budget_used", "Spend to date, % of budget", "line", filters.labels,
              [Series(chosen[key].name, used(key, "spend", chosen[key].budget)) for key in keys], unit="%",
              target=100.0, target_label="budget"),
        Chart("total_cap_used", "Leads to date, % of the total lead cap", "line", filters.labels,
              [Series(chosen[key].name, used(key, "leads", chosen[key].total_lead_cap)) for key in keys
               if chosen[key].total_lead_cap], unit="%", target=100.0, target_label="total lead cap"),
        Chart("spend", "Spend per day", "line", filters.labels,
              [Series(chosen[key].name, [spent[key][day].spend if day in spent[key] else 0 for day in filters.days])
               for key in keys], unit=single.currency if single else ""),
        Chart("leads", "Leads charged per day" + (", against the daily cap" if leads_target else ""), "line",
              filters.labels, [Series(chosen[key].name, [spent[key][day].leads if day in spent[key] else 0
                                                         for day in filters.days]) for key in keys],
              unit="leads", **leads_target),
    ]


DASHBOARDS = {
    "funnel": ("Funnel", funnel_charts, ("origin", "lender", "campaign", "group")),
    "lenders": ("Lenders", lender_charts, ("lender",)),
    "postbacks": ("Postback health", postback_charts, ("lender",)),
    "campaigns": ("Campaign pacing", campaign_charts, ("campaign",)),
}
