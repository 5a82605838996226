"""The funnel report's rollup (apps/leads/funnel_models.py): kept up to date by the dashboards'
periodic run (apps/reports/rollups.py, kind "stages"), read by apps/leads/reports.py.

Two sources, each counted on the marketplace day its stage happened:

- the ledger (charged leads, approvals, disbursements and spend): entries never change once
  written, so a run adds the entries created since the last one's mark to their days;
- the journeys' own stages (the lead's lender's decision, its submission, its hand-off): a lead's
  decision counts only once it belongs to the lead's lender, and a compare-mode journey changes
  lender each time the consumer picks another offer, so these cannot be added once by date. As
  the dashboards' funnel does with FunnelLead, a run recounts each lead changed since the last
  one (a lead's or a decision's updated_at) and moves its counts from what FunnelStageLead kept
  of it to what it shows now. Recounting a lead twice moves nothing, so runs overlap freely.

The ledger's mark is `now` less MARGIN: an entry stamped before a run's mark but committed after
the run (a transaction longer than MARGIN) would be missed, as in the dashboards' rollups. The
leads' mark is when the run read them: recounting is idempotent, so each run recounts from
MARGIN before the last one's read, and the report only what changed since.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, FilteredRelation, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.selectors import marketplace_zone
from apps.leads.models import Decision, FunnelStageDay, FunnelStageLead, FunnelStageMark, Lead
from prosperas.sql import counts_add

MARGIN = timedelta(minutes=15)
# A lead's change stamped just before a run read the changed leads, but committed just after: the
# funnel report recounts the leads changed from this long before the run's read. A transaction
# longer than that is counted by the next run (which recounts from MARGIN before the last read),
# and shows in the report from then on.
LEADS_GRACE = timedelta(seconds=5)
# Changed leads recounted per query.
LEAD_BATCH = 2000

GROUP = ("day", "origin_id", "lender_id", "campaign_id", "currency")
CHARGED = ("leads", "approved", "disbursed")
LEDGER_COUNTS = (*CHARGED, "spend")
JOURNEY_COUNTS = ("decisions", "approved_decisions", "submitted", "handed_off")
CONSTRAINT = "funnel_stage_day_one_row_per_group"


# --- the ledger ---------------------------------------------------------------------------------


def ledger_counts(entries: QuerySet[LedgerEntry]) -> dict[tuple, list]:
    """The entries' counts by day and group: {(day, origin, lender, campaign, currency): [leads,
    approved, disbursed, spend]}."""
    kind = LedgerEntry.Kind
    rows = entries.values("day", "origin_id", "lender_id", "campaign_id", "currency").annotate(
        charged_leads=Count("id", filter=Q(kind=kind.LEAD)), charged_approved=Count("id", filter=Q(kind=kind.APPROVED)),
        charged_disbursed=Count("id", filter=Q(kind=kind.DISBURSED)), charged_spend=Sum("amount"),
    ).order_by()
    return {tuple(row[name] for name in GROUP): [row["charged_leads"], row["charged_approved"],
                                                 row["charged_disbursed"], row["charged_spend"]] for row in rows}


# --- the journeys' stages -----------------------------------------------------------------------


@dataclass(frozen=True)
class Stages:
    """Where a campaign's lead counts in the report (as FunnelStageLead keeps it)."""

    origin_id: int
    lender_id: int | None
    campaign_id: int
    decision_day: date | None
    decision_approved: bool
    submitted_day: date | None
    handed_off_day: date | None

    def counts(self, sign: int = 1) -> dict[tuple, list[int]]:
        """{(day, origin, lender, campaign, ''): [decisions, approved decisions, submitted, handed off]}."""
        found: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(JOURNEY_COUNTS))
        group = (self.origin_id, self.lender_id, self.campaign_id, "")
        if self.decision_day is not None:
            found[(self.decision_day, *group)][0] += sign
            found[(self.decision_day, *group)][1] += sign * self.decision_approved
        if self.submitted_day is not None:
            found[(self.submitted_day, *group)][2] += sign
        if self.handed_off_day is not None:
            found[(self.handed_off_day, *group)][3] += sign
        return found

    @classmethod
    def kept(cls, row: FunnelStageLead) -> Stages:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


# A day no stage happens on: stands for "none" where NULLs are compared.
NEVER = date(1, 1, 1)


def leads_with_stages(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Campaign leads annotated with the fields of their Stages: the day of their lender's
    decision (one at most: a lead has one decision per lender) and whether it approved, the days
    of their submission and hand-off."""
    zone = marketplace_zone()
    return leads.filter(campaign__isnull=False).annotate(
        own_decision=FilteredRelation("decisions", condition=Q(decisions__lender_id=F("lender_id"))),
    ).annotate(
        decision_day=TruncDate("own_decision__created_at", tzinfo=zone),
        submitted_day=TruncDate("submitted_at", tzinfo=zone),
        handed_off_day=TruncDate("handed_off_at", tzinfo=zone),
        decision_approved=Case(When(own_decision__outcome=Decision.Outcome.APPROVED, then=Value(True)),
                               default=Value(False)),
    )


def _nullable(name: str):
    return Coalesce(name, Value(0)) if name == "lender_id" else Coalesce(name, Value(NEVER))


_NULLABLE = ("lender_id", "decision_day", "submitted_day", "handed_off_day")


def _kept_as_is() -> Exists:
    """The lead's FunnelStageLead row holds exactly its Stages now (NULLs equal)."""
    kept = FunnelStageLead.objects.filter(
        lead_id=OuterRef("pk"), origin_id=OuterRef("origin_id"), campaign_id=OuterRef("campaign_id"),
        decision_approved=OuterRef("decision_approved"),
    ).annotate(**{f"kept_{name}": _nullable(name) for name in _NULLABLE})
    return Exists(kept.filter(**{f"kept_{name}": OuterRef(f"now_{name}") for name in _NULLABLE}))


def leads_moved(lead_ids: list[int]) -> dict[int, Stages]:
    """Of these leads, those whose Stages differ from what FunnelStageLead keeps of them (or that
    it does not keep yet), with their Stages now: compared by PostgreSQL, so a lead a postback
    moved from handed off to approved, whose report stages stay put, costs no more than a row read."""
    rows = leads_with_stages(Lead.objects.filter(pk__in=lead_ids)).annotate(
        **{f"now_{name}": _nullable(name) for name in _NULLABLE},
    ).exclude(_kept_as_is()).values_list("pk", *Stages.__dataclass_fields__)
    return {pk: Stages(*fields) for pk, *fields in rows}


def leads_changed_since(since: datetime) -> set[int]:
    """Leads whose stages may have moved since `since`: the lead changed (its lender, campaign,
    submission, hand-off), or one of its decisions was stored or answered (a compare-mode
    decision can arrive while the journey itself stays put). Leads outside campaigns too: one
    taken out of its campaign must leave the counts."""
    changed = set(Lead.objects.filter(updated_at__gte=since).values_list("pk", flat=True))
    return changed | set(Decision.objects.filter(updated_at__gte=since).values_list("lead_id", flat=True))


def leads_moves(lead_ids: list[int]) -> tuple[dict[tuple, list[int]], dict[int, Stages | None]]:
    """What recounting these leads changes: the counts to add to FunnelStageDay (by group, signed),
    and each moved lead's new Stages (None: it counts nowhere now, out of any campaign or gone)."""
    now = leads_moved(lead_ids)
    counting = Lead.objects.filter(pk__in=lead_ids, campaign__isnull=False).values("pk")
    left = FunnelStageLead.objects.filter(lead_id__in=lead_ids).exclude(lead_id__in=counting)
    # One list, not an OR with the subquery: PostgreSQL would read every kept lead for that.
    recount = [*now, *left.values_list("lead_id", flat=True)]
    kept = {row.lead_id: Stages.kept(row) for row in FunnelStageLead.objects.filter(lead_id__in=recount)}
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(JOURNEY_COUNTS))
    moved: dict[int, Stages | None] = {}
    for pk in now.keys() | kept.keys():
        before, after = kept.get(pk), now.get(pk)
        if before == after:
            continue
        for stages, sign in ((before, -1), (after, 1)):
            for group, counts in (stages.counts(sign) if stages is not None else {}).items():
                deltas[group] = [a + b for a, b in zip(deltas[group], counts, strict=True)]
        moved[pk] = after
    return {group: counts for group, counts in deltas.items() if any(counts)}, moved


def _keep(moved: dict[int, Stages | None]) -> None:
    FunnelStageLead.objects.filter(lead_id__in=[pk for pk, stages in moved.items() if stages is None]).delete()
    FunnelStageLead.objects.bulk_create(
        [FunnelStageLead(lead_id=pk, **stages.__dict__) for pk, stages in moved.items() if stages is not None],
        update_conflicts=True, unique_fields=["lead"], update_fields=list(Stages.__dataclass_fields__),
        batch_size=LEAD_BATCH)


# --- runs ---------------------------------------------------------------------------------------


def _add(deltas: dict[tuple, list], names: tuple[str, ...]) -> None:
    """Add amounts of some columns (`names`) to FunnelStageDay's rows, the others untouched."""
    counts_add(FunnelStageDay, {group: [*amounts] for group, amounts in deltas.items()}, group=GROUP, counts=names,
               constraint=CONSTRAINT, drop_when_zero=(*LEDGER_COUNTS, *JOURNEY_COUNTS))


@transaction.atomic
def funnel_stages_refresh(now: datetime) -> int:
    """Bring the rollup up to `now` less MARGIN; returns the number of days whose counts moved.
    The first run counts everything (funnel_stages_build)."""
    mark = FunnelStageMark.objects.select_for_update().filter(pk=1).first()
    through = now - MARGIN
    if mark is None:
        return funnel_stages_build(through)
    if through <= mark.through:
        return 0
    days: set[date] = set()
    ledger = ledger_counts(LedgerEntry.objects.filter(created_at__gte=mark.through, created_at__lt=through))
    _add(ledger, LEDGER_COUNTS)
    days |= {group[0] for group in ledger}
    read_at = timezone.now()
    changed = sorted(leads_changed_since((mark.leads_through or mark.through) - MARGIN))
    for start in range(0, len(changed), LEAD_BATCH):
        deltas, moved = leads_moves(changed[start:start + LEAD_BATCH])
        _add(deltas, JOURNEY_COUNTS)
        _keep(moved)
        days |= {group[0] for group in deltas}
    mark.through, mark.leads_through = through, read_at
    mark.save(update_fields=["through", "leads_through"])
    return len(days)


def funnel_stages_build(through: datetime) -> int:
    """Count everything from scratch, up to `through` for the ledger and as every lead stands now;
    in SQL (a year of leads is millions of rows). Returns the number of days counted."""
    FunnelStageLead.objects.all().delete()
    read_at = timezone.now()
    leads = leads_with_stages(Lead.objects.all()).values_list("pk", *Stages.__dataclass_fields__).order_by()
    select, params = leads.query.sql_with_params()
    names = ", ".join(connection.ops.quote_name(FunnelStageLead._meta.get_field(name).column)
                      for name in ("lead", *Stages.__dataclass_fields__))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {connection.ops.quote_name(FunnelStageLead._meta.db_table)} ({names}) {select}",
                       params)
    FunnelStageMark.objects.update_or_create(pk=1, defaults={"through": through, "leads_through": read_at})
    return funnel_stages_days_rebuild(None)


def funnel_stages_days_rebuild(days: set[date] | None) -> int:
    """Write FunnelStageDay's rows of these days (None: every day) again, from the ledger's entries
    before the mark and what FunnelStageLead keeps: a backfill, or a check that the counts moved
    run by run agree with a count from scratch. Returns the number of days written."""
    mark = FunnelStageMark.objects.filter(pk=1).first()
    if mark is None:
        return 0
    entries = LedgerEntry.objects.filter(created_at__lt=mark.through)
    rows: dict[tuple, list] = {group: [*counts, *[0] * len(JOURNEY_COUNTS)]
                               for group, counts in ledger_counts(
                                   entries if days is None else entries.filter(day__in=days)).items()}
    stages = (("decision_day", Q(), 0), ("decision_day", Q(decision_approved=True), 1),
              ("submitted_day", Q(), 2), ("handed_off_day", Q(), 3))
    for field, condition, position in stages:
        kept = FunnelStageLead.objects.filter(condition, **{f"{field}__isnull": False})
        if days is not None:
            kept = kept.filter(**{f"{field}__in": days})
        for row in kept.values(field, "origin_id", "lender_id", "campaign_id").annotate(total=Count("pk")).order_by():
            group = (row[field], row["origin_id"], row["lender_id"], row["campaign_id"], "")
            rows.setdefault(group, [0] * len(LEDGER_COUNTS) + [0] * len(JOURNEY_COUNTS))
            rows[group][len(LEDGER_COUNTS) + position] += row["total"]
    (FunnelStageDay.objects.all() if days is None else FunnelStageDay.objects.filter(day__in=days)).delete()
    names = (*GROUP, *LEDGER_COUNTS, *JOURNEY_COUNTS)
    FunnelStageDay.objects.bulk_create(
        [FunnelStageDay(**dict(zip(names, (*group, *counts), strict=True))) for group, counts in rows.items()],
        batch_size=5000)
    return len({group[0] for group in rows} | (days or set()))


def funnel_stages_mark() -> FunnelStageMark | None:
    """How far the rollup has read (None: it has never run)."""
    return FunnelStageMark.objects.filter(pk=1).first()


def leads_changed_after(mark: FunnelStageMark) -> list[int]:
    """The leads the rollup may count otherwise than they stand now: changed since the last run
    read them (LEADS_GRACE before, for a change committed just after)."""
    return sorted(leads_changed_since((mark.leads_through or mark.through) - LEADS_GRACE))
