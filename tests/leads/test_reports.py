"""The funnel per campaign, origin and lender: counts by the day each step happened, spend from
the ledger, cost per result, CSV, and the staff-only admin page."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.campaigns.catalog import catalog_for_origin, catalog_views_record
from apps.campaigns.selectors import marketplace_day
from apps.campaigns.services import DeliveryRefused
from apps.leads import services as lead_services
from apps.leads.engine.results import decision_record, submission_record
from apps.leads.models import Lead, LeadStatus
from apps.leads.reports import funnel_report, funnel_report_csv
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from tests.campaigns.conftest import IDENTITY, started
from tests.factories import shelf_with
from tests.support import postback_apply

pytestmark = pytest.mark.django_db


def _approved() -> DecisionResult:
    return DecisionResult(decision=DecisionKind.APPROVED, offers=(Offer(
        lender_offer_id="OF-1", amount=Decimal("5000000"), term_months=24, monthly_payment=Decimal("265000"),
        annual_rate=Decimal("0.28"), url="https://lender.example/offer/1"),))


def _walk(shelf, *, decision: DecisionResult | None, handed_off: bool = False, result: str = "") -> Lead:
    """One journey as far as asked, through the real services."""
    lead = started(shelf)
    lead_services.journey_identity_submit(lead=lead, identity=IDENTITY)
    if decision is None:
        return lead
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=decision)
    if not handed_off:
        return lead
    lead.refresh_from_db()
    lead_services.journey_offer_choose(lead=lead, offer_id=lead.decisions.get().offers.get().pk)
    lead_services.journey_details_submit(lead=lead, email="ana@example.com", phone="+573001234567")
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="ok", redirect_url="https://l.example/x"))
    lead.refresh_from_db()
    lead_services.journey_handoff(lead=lead)
    if result:
        postback_apply(lead, result, occurred_at=timezone.now())
    return lead


@pytest.fixture
def market():
    shelf = shelf_with(price_per_lead=Decimal("1000"), price_per_approved=Decimal("4000"),
                       price_per_disbursed=Decimal("10000"), budget=Decimal("1000000"))
    for _ in range(3):
        catalog_views_record(origin=shelf.origin, entries=catalog_for_origin(origin=shelf.origin))
    _walk(shelf, decision=None)
    _walk(shelf, decision=DecisionResult(decision=DecisionKind.REJECTED, reason="low income"))
    _walk(shelf, decision=_approved(), handed_off=True)
    _walk(shelf, decision=_approved(), handed_off=True, result="approved")
    _walk(shelf, decision=_approved(), handed_off=True, result="disbursed")
    return shelf


def test_the_funnel_counts_each_step_and_costs_per_result(market):
    today = marketplace_day()

    report = funnel_report(date_from=today, date_to=today, group_by="campaign")

    row = next(r for r in report.rows if r.key == market.campaign.pk)
    assert row.label == market.campaign.name
    assert row.counts == {"views": 3, "leads": 5, "decisions": 4, "approved_decisions": 3, "submitted": 3,
                          "handed_off": 3, "approved": 2, "disbursed": 1}
    # 5 leads, 2 approvals (disbursed implies approved), 1 disbursement
    assert row.spend == {"COP": Decimal("5000") + Decimal("8000") + Decimal("10000")}
    assert row.cost_per("leads") == Decimal("4600.00")
    assert row.cost_per("disbursed") == Decimal("23000.00")


def test_the_funnel_groups_by_origin_and_by_lender_and_filters_by_dates(market):
    today = marketplace_day()

    by_origin = funnel_report(date_from=today, date_to=today, group_by="origin")
    by_lender = funnel_report(date_from=today, date_to=today, group_by="lender")
    yesterday = funnel_report(date_from=today - timedelta(days=1), date_to=today - timedelta(days=1))

    assert [(r.label, r.counts["leads"]) for r in by_origin.rows] == [(market.origin.name, 5)]
    fallback_lender = market.fallback.lender.name
    assert {r.label: r.counts["views"] for r in by_lender.rows} == {market.campaign.lender.name: 3, fallback_lender: 3}
    assert yesterday.rows == []


def test_the_funnel_exports_as_csv_with_plain_numbers(market):
    today = marketplace_day()

    rows = list(csv.reader(io.StringIO(funnel_report_csv(funnel_report(date_from=today, date_to=today)))))

    assert rows[0][:3] == ["Campaign", "Views", "Leads delivered"]
    line = next(row for row in rows if row[0] == market.campaign.name)
    assert line[1:9] == ["3", "5", "4", "3", "3", "3", "2", "1"]
    assert line[9] == "23000.00 COP" and line[10] == "4600.00"


def test_the_report_is_a_staff_page_with_a_csv_download(client, django_user_model, market):
    url = reverse("admin:leads_lead_funnel_report")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_superuser("staff", "s@prosperas.test", "pw-for-tests-only"))

    page = client.get(url, {"group_by": "lender"})
    download = client.get(url, {"group_by": "campaign", "format": "csv"})

    assert page.status_code == 200 and market.campaign.lender.name in page.content.decode()
    assert download["Content-Type"].startswith("text/csv")
    assert market.campaign.name in download.content.decode()


def test_a_lead_never_routed_is_not_in_the_funnel_beyond_its_view():
    shelf = shelf_with(min_monthly_income=10_000_000)
    lead = started(shelf)
    with pytest.raises(DeliveryRefused):
        lead_services.journey_identity_submit(lead=lead, identity=IDENTITY)

    today = marketplace_day()
    assert funnel_report(date_from=today, date_to=today).rows == []
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW
