"""The daily rollups against the raw rows: what they count, that a run repeated or a period
rebuilt gives the same rows, that late events land on their day, and that runs are incremental."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.selectors import marketplace_day
from apps.leads.models import Lead
from apps.lenders.circuit import lender_circuit_force
from apps.lenders.models import CircuitState, LenderCall
from apps.lenders.selectors import percentile
from apps.lenders.signed_requests import refusal_record
from apps.postbacks.models import PostbackEvent
from apps.reports.models import CampaignDay, FunnelDay, FunnelLead, LenderDay, PostbackDay, RollupState
from apps.reports.rollups import rollups_rebuild, rollups_refresh
from tests.campaigns.conftest import started
from tests.factories import LeadFactory, LenderFactory
from tests.reports.conftest import APPROVED, REJECTED, backdate, walk
from tests.support import postback_apply

pytestmark = pytest.mark.django_db
STAGES = ["started", "identity", "decision", "offer", "handed_off", "approved", "disbursed"]


def _funnel_rows():
    return sorted(((row.day, row.origin_id, row.lender_id, row.campaign_id, *(getattr(row, s) for s in STAGES))
                   for row in FunnelDay.objects.all()), key=lambda row: tuple((value is None, value or 0) for value in row))


def _raw_funnel(day):
    """The funnel of leads started on `day`, counted lead by lead from the raw rows."""
    leads = [lead for lead in Lead.objects.all() if marketplace_day(lead.created_at) == day]
    applied = PostbackEvent.objects.filter(effect="applied")
    return [
        len(leads), sum(lead.identity_at is not None for lead in leads), sum(lead.decided_at is not None for lead in leads),
        sum(lead.decisions.filter(offers__isnull=False).exists() for lead in leads),
        sum(lead.handed_off_at is not None for lead in leads),
        sum(applied.filter(lead=lead, status__in=["approved", "disbursed"]).exists() for lead in leads),
        sum(applied.filter(lead=lead, status="disbursed").exists() for lead in leads),
    ]


def test_the_funnel_rollup_counts_each_stage_of_the_leads_started_each_day(market):
    old = walk(market, decision=APPROVED, handed_off=True)
    backdate(old, days=3)

    rollups_refresh()

    for day in (marketplace_day(), marketplace_day() - timedelta(days=3)):
        rows = FunnelDay.objects.filter(day=day)
        assert [sum(getattr(row, stage) for row in rows) for stage in STAGES] == _raw_funnel(day)
    today = FunnelDay.objects.get(day=marketplace_day(), campaign=market.campaign)
    assert [getattr(today, stage) for stage in STAGES] == [5, 5, 4, 3, 3, 2, 1]
    assert today.origin_id == market.origin.pk and today.lender_id == market.campaign.lender_id


def test_running_again_or_rebuilding_the_period_gives_the_same_rows(market):
    rollups_refresh()
    first = _funnel_rows()
    lenders_first = sorted(LenderDay.objects.values_list("day", "lender_id", "calls", "p95_ms"))

    rollups_refresh()
    assert _funnel_rows() == first
    rollups_rebuild(date_from=marketplace_day() - timedelta(days=10), date_to=marketplace_day())
    assert _funnel_rows() == first
    assert sorted(LenderDay.objects.values_list("day", "lender_id", "calls", "p95_ms")) == lenders_first


def test_a_late_postback_lands_on_the_day_its_lead_started(market):
    lead = walk(market, decision=APPROVED, handed_off=True)
    backdate(lead, days=5)
    rollups_refresh()
    day = marketplace_day() - timedelta(days=5)
    assert FunnelDay.objects.get(day=day).disbursed == 0

    postback_apply(lead, "disbursed")
    rebuilt = rollups_refresh()

    row = FunnelDay.objects.get(day=day)
    assert (row.handed_off, row.approved, row.disbursed) == (1, 1, 1)
    # Incremental: that day, and today's (the market's leads changed within the run's margin).
    assert rebuilt["funnel"] == 2


def test_a_run_with_nothing_new_rebuilds_no_funnel_day_and_moves_the_watermark(market):
    assert rollups_refresh(now=timezone.now() + timedelta(hours=1))["funnel"] == 1  # today's leads
    later = timezone.now() + timedelta(hours=2)

    assert rollups_refresh(now=later)["funnel"] == 0
    assert RollupState.objects.get(kind="funnel").watermark == later


def test_incremental_runs_move_only_changed_leads_and_agree_with_a_rebuild(market, django_assert_max_num_queries):
    """After the first run, a run moves the counts of the leads changed since the watermark (from
    where FunnelLead kept them): a lead that got further, one that changed group (its lender
    taken away), a new one and a deleted one. The rows then equal a rebuild from the raw rows,
    and a run's queries do not grow with the days' other leads."""
    old = walk(market, decision=APPROVED, handed_off=True)
    backdate(old, days=40)
    for _ in range(5):  # other leads of old's day, which an incremental run must not read
        backdate(walk(market, decision=REJECTED), days=40)
    gone = started(market)  # left before identity: nothing charged, retention may delete it
    rollups_refresh()
    assert FunnelLead.objects.count() == Lead.objects.count()

    postback_apply(old, "disbursed")  # got further
    regrouped = walk(market, decision=REJECTED)
    rollups_refresh()
    Lead.objects.filter(pk=regrouped.pk).update(lender=None, updated_at=timezone.now())  # changed group
    walk(market, decision=APPROVED, handed_off=True, result="approved")  # new
    gone.delete()  # retention: its FunnelLead goes with it, FunnelDay keeps counting it
    with django_assert_max_num_queries(16):  # the same for a day of thousands
        # Today's and old's day (its postback is within the run's margin, and unchanged since: no move).
        assert rollups_refresh(kinds=["funnel"], now=timezone.now() + timedelta(minutes=1))["funnel"] == 2
    incremental = _funnel_rows()
    old_day = FunnelDay.objects.get(day=marketplace_day() - timedelta(days=40))
    assert (old_day.started, old_day.disbursed) == (6, 1)
    assert FunnelDay.objects.get(day=marketplace_day(), lender=None).started == 1

    rollups_rebuild(date_from=marketplace_day() - timedelta(days=40), date_to=marketplace_day())
    rebuilt = _funnel_rows()
    today = [row for row in incremental if row[0] == marketplace_day()]
    assert sum(row[4] for row in today) == sum(row[4] for row in rebuilt if row[0] == marketplace_day()) + 1  # gone
    assert [row for row in incremental if row[0] != marketplace_day()] == [
        row for row in rebuilt if row[0] != marketplace_day()]


def _calls(lender, durations, outcome="approved", days_ago=0):
    started = timezone.now() - timedelta(days=days_ago, minutes=1)
    lead = LeadFactory(lender=lender)
    LenderCall.objects.bulk_create(
        LenderCall(lender=lender, lead=lead, capability="prequalify", attempt=1, idempotency_key="k", outcome=outcome,
                   started_at=started, finished_at=started, duration_ms=duration)
        for duration in durations
    )


def test_the_lender_rollup_gives_the_raw_percentiles_rates_and_circuit_changes():
    lender = LenderFactory()
    durations = [120, 340, 800, 950, 1200, 2500, 4800, 5200, 7000, 30_000]
    _calls(lender, durations)
    _calls(lender, [400, 600], outcome="rejected")
    _calls(lender, [15_000] * 3, outcome="technical_failure")
    _calls(lender, [1000], outcome="in_flight")  # not finished: not counted
    lender_circuit_force(lender=lender, state=CircuitState.OPEN)
    lender_circuit_force(lender=lender, state=CircuitState.CLOSED)

    rollups_refresh()

    row = LenderDay.objects.get(lender=lender, day=marketplace_day())
    every = sorted(durations + [400, 600] + [15_000] * 3)
    assert row.calls == 15
    assert (row.p50_ms, row.p95_ms) == (percentile(every, 0.5), percentile(every, 0.95))
    assert row.over_target == sum(duration > 5000 for duration in every)
    assert (row.technical_failures, row.approved, row.rejected) == (3, 10, 2)
    assert (row.circuit_changes, row.circuit_opened) == (2, 1)


def test_the_postback_rollup_counts_accepted_late_and_refused_by_reason(market):
    lead = walk(market, decision=APPROVED, handed_off=True)
    postback_apply(lead, "approved", occurred_at=timezone.now() - timedelta(hours=3))  # late
    postback_apply(lead, "approved")  # a repeat
    lender = lead.lender
    for reason in ("bad_signature", "bad_signature", "stale_timestamp"):
        refusal_record(lender=lender, reason=reason, source_ip="10.0.0.1")

    rollups_refresh()

    row = PostbackDay.objects.get(lender=lender, day=marketplace_day())
    events = PostbackEvent.objects.filter(lender=lender)
    assert row.accepted == events.exclude(effect="unmatched").count() == 4
    assert row.repeats == events.filter(is_repeat=True).count() == 1
    assert row.late == 1
    assert row.refused == {"bad_signature": 2, "stale_timestamp": 1}


def test_the_campaign_rollup_sums_the_ledger(market):
    rollups_refresh()

    row = CampaignDay.objects.get(campaign=market.campaign, day=marketplace_day())
    ledger = LedgerEntry.objects.filter(campaign=market.campaign)
    assert row.spend == sum(entry.amount for entry in ledger)
    assert (row.leads, row.approved, row.disbursed) == (5, 2, 1)
