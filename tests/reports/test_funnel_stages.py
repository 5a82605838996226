"""The funnel report's rollup (apps/leads/funnel_rollup.py): the report read from it, with what
happened since its mark read from the raw rows, equals the report read from the raw rows alone,
whatever moved in between: a journey changing lender, a decision answered while its journey
stays put, new journeys charged; and the counts moved run by run equal a count from scratch."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.selectors import marketplace_day
from apps.leads.funnel_rollup import MARGIN, funnel_stages_days_rebuild, funnel_stages_mark, funnel_stages_refresh
from apps.leads.models import Decision, FunnelStageDay, FunnelStageMark, Lead
from apps.leads.reports import GROUPS, funnel_report
from apps.reports.rollups import rollups_refresh
from tests.factories import LeadFactory
from tests.reports.conftest import APPROVED, REJECTED, walk

pytestmark = pytest.mark.django_db


def _reports(date_from, date_to) -> dict:
    return {group: funnel_report(date_from=date_from, date_to=date_to, group_by=group) for group in GROUPS}


def _raw_reports(date_from, date_to) -> dict:
    """The reports as the raw rows alone give them (the rollup's mark taken away for the read)."""
    with transaction.atomic():
        FunnelStageMark.objects.all().delete()
        reports = _reports(date_from, date_to)
        transaction.set_rollback(True)
    return reports


def _day_rows() -> list[tuple]:
    return sorted(FunnelStageDay.objects.values_list(
        "day", "origin_id", "lender_id", "campaign_id", "currency", "leads", "approved", "disbursed", "spend",
        "decisions", "approved_decisions", "submitted", "handed_off"), key=repr)


def _yesterday(lead: Lead) -> None:
    """Move a journey's stages and charges a day back, as if it had happened then."""
    moment = timezone.now() - timedelta(days=1)
    stamps = {name: moment for name in ("submitted_at", "handed_off_at") if getattr(lead, name) is not None}
    Lead.objects.filter(pk=lead.pk).update(created_at=moment, **stamps)
    Decision.objects.filter(lead=lead).update(created_at=moment)
    LedgerEntry.objects.filter(lead=lead).update(created_at=moment, day=marketplace_day(moment))


def test_the_report_from_the_rollup_equals_the_report_from_the_raw_rows_whatever_moved_since(market):
    other_lender = market.fallback.lender
    old = walk(market, decision=APPROVED, handed_off=True, result="approved")
    old.refresh_from_db()
    _yesterday(old)
    regrouped = walk(market, decision=APPROVED)
    answered_later = walk(market, decision=REJECTED)
    dropped = walk(market, decision=APPROVED, handed_off=True)
    today = marketplace_day()
    period = (today - timedelta(days=3), today)
    raw = _reports(*period)
    assert funnel_stages_mark() is None

    # A run whose mark is after everything so far: the report now reads it all from the rollup.
    funnel_stages_refresh(timezone.now() + MARGIN)
    assert _reports(*period) == raw
    assert {row.day for row in FunnelStageDay.objects.all()} == {today - timedelta(days=1), today}
    row = FunnelStageDay.objects.filter(campaign_id=market.campaign.pk, day=today, currency="").get()
    FunnelStageDay.objects.filter(pk=row.pk).update(submitted=row.submitted + 100)
    assert next(r for r in _reports(*period)["campaign"].rows if r.key == market.campaign.pk).counts["submitted"] \
        == raw["campaign"].rows[0].counts["submitted"] + 100  # read from the rollup, not recounted
    FunnelStageDay.objects.filter(pk=row.pk).update(submitted=row.submitted)

    # Then, after the mark: a journey takes another lender (as a compare-mode choice does), with
    # that lender's decision; a decision is answered again while its journey stays put; a new
    # journey goes all the way and is charged; a journey is taken out of its campaign.
    Decision.objects.create(lead=regrouped, lender=other_lender, outcome=Decision.Outcome.REJECTED)
    Lead.objects.filter(pk=regrouped.pk).update(lender=other_lender, campaign=market.fallback,
                                                updated_at=timezone.now())
    Decision.objects.filter(lead=answered_later).update(outcome=Decision.Outcome.APPROVED, updated_at=timezone.now())
    walk(market, decision=APPROVED, handed_off=True, result="disbursed")
    LeadFactory(origin=market.origin)  # outside any campaign: counted nowhere
    Lead.objects.filter(pk=dropped.pk).update(campaign=None, updated_at=timezone.now())

    moved = _raw_reports(*period)
    assert moved != raw
    assert _reports(*period) == moved  # the rollup, and since its mark the raw rows

    funnel_stages_refresh(timezone.now() + MARGIN)
    assert _reports(*period) == moved
    incremental = _day_rows()
    funnel_stages_days_rebuild(None)
    assert _day_rows() == incremental


def test_the_dashboards_run_keeps_the_rollup_and_a_report_before_its_period_reads_the_raw_rows(market):
    today = marketplace_day()
    raw = _reports(today, today)

    rollups_refresh(kinds=["stages"], now=timezone.now() + MARGIN)

    assert funnel_stages_mark() is not None and FunnelStageDay.objects.exists()
    assert _reports(today, today) == raw
    # A period after the mark: nothing of it is in the rollup, all of it is read from the raw rows.
    later = today + timedelta(days=2)
    assert _reports(later, later) == _raw_reports(later, later)
