"""Delivering a lead (check and charge in one transaction), billing results once, and the
running totals that always equal the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignOrigin, LedgerEntry
from apps.campaigns.selectors import campaign_ledger_totals, marketplace_day
from apps.campaigns.services import (
    DeliveryRefused,
    campaign_pause,
    campaign_result_charge,
    campaign_resume,
    campaign_totals_rebuild,
)
from apps.leads import services as lead_services
from apps.leads.models import Lead, LeadStatus
from tests.campaigns.conftest import IDENTITY, started
from tests.factories import LeadFactory, shelf_with
from tests.support import postback_apply

pytestmark = pytest.mark.django_db


def _deliver(lead: Lead) -> bool:
    return lead_services.journey_identity_submit(lead=lead, identity=IDENTITY)


def _handed_off(shelf, **campaign_fields) -> Lead:
    Campaign.objects.filter(pk=shelf.campaign.pk).update(**campaign_fields)
    lead = started(shelf)
    _deliver(lead)
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.HANDED_OFF)
    return lead


def test_routing_a_lead_charges_its_delivery_once_in_the_same_transaction(shelf, django_capture_on_commit_callbacks):
    lead = started(shelf)

    with django_capture_on_commit_callbacks() as callbacks:
        assert _deliver(lead) is True
        assert _deliver(Lead.objects.get(pk=lead.pk)) is False  # a repeat changes nothing

    entry = LedgerEntry.objects.get(lead=lead)
    assert (entry.kind, entry.amount, entry.list_price, entry.currency) == (
        "lead", Decimal("1000.00"), Decimal("1000.00"), "COP")
    assert (entry.campaign, entry.origin, entry.lender) == (shelf.campaign, shelf.origin, shelf.campaign.lender)
    shelf.campaign.refresh_from_db()
    assert (shelf.campaign.spent, shelf.campaign.leads_delivered) == (Decimal("1000.00"), 1)
    assert (shelf.campaign.counted_day, shelf.campaign.counted_day_leads) == (marketplace_day(), 1)
    link = CampaignOrigin.objects.get(campaign=shelf.campaign, origin=shelf.origin)
    assert (link.leads_delivered, link.counted_day_leads) == (1, 1)
    assert len(callbacks) == 1  # the lender is asked once


def test_a_refused_delivery_leaves_no_trace_and_the_journey_where_it_was():
    shelf = shelf_with(min_monthly_income=5_000_000)
    lead = started(shelf)

    with pytest.raises(DeliveryRefused) as refusal:
        _deliver(lead)

    assert refusal.value.rule == "income"
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.status, stored.document_number, stored.monthly_income) == (LeadStatus.NEW, "", None)
    assert not LedgerEntry.objects.exists()
    assert stored.events.filter(kind="identity").count() == 0


def test_the_refused_consumer_is_offered_the_next_listing_their_data_qualifies_for():
    shelf = shelf_with(daily_lead_cap=0)
    lead = started(shelf)

    with pytest.raises(DeliveryRefused) as refusal:
        _deliver(lead)

    assert refusal.value.rule == "daily_cap"
    assert refusal.value.next_entry.listing == shelf.fallback_listing


def test_a_lead_started_outside_any_campaign_is_routed_without_a_charge():
    lead = LeadFactory()

    assert _deliver(lead) is True
    assert not LedgerEntry.objects.exists()


def test_the_budget_is_never_exceeded_by_a_lead_whose_price_does_not_fit():
    shelf = shelf_with(price_per_lead=Decimal("400"), budget=Decimal("1000"))
    first, second, third = started(shelf), started(shelf), started(shelf)
    _deliver(first)
    _deliver(second)

    with pytest.raises(DeliveryRefused) as refusal:
        _deliver(third)  # 200 left, a lead costs 400

    assert refusal.value.rule == "budget"
    assert campaign_ledger_totals(shelf.campaign).spent == Decimal("800.00")


def test_a_daily_count_of_an_earlier_day_restarts_at_one():
    shelf = shelf_with(daily_lead_cap=2)
    Campaign.objects.filter(pk=shelf.campaign.pk).update(counted_day=marketplace_day() - timedelta(days=1),
                                                         counted_day_leads=2)
    CampaignOrigin.objects.filter(campaign=shelf.campaign).update(counted_day=marketplace_day() - timedelta(days=1),
                                                                  counted_day_leads=7)

    assert _deliver(started(shelf)) is True

    shelf.campaign.refresh_from_db()
    assert (shelf.campaign.counted_day, shelf.campaign.counted_day_leads) == (marketplace_day(), 1)
    assert shelf.campaign.campaign_origins.get().counted_day_leads == 1


def test_per_origin_caps_stop_one_origin_while_the_campaign_keeps_delivering_elsewhere():
    shelf = shelf_with()
    CampaignOrigin.objects.filter(campaign=shelf.campaign).update(total_lead_cap=1)
    _deliver(started(shelf))

    with pytest.raises(DeliveryRefused) as refusal:
        _deliver(started(shelf))

    assert refusal.value.rule == "origin_total_cap"


def test_an_approval_is_charged_once_however_often_the_postback_repeats(shelf):
    lead = _handed_off(shelf, price_per_approved=Decimal("5000"))

    for _ in range(3):
        postback_apply(lead, "approved", occurred_at=timezone.now())

    assert list(LedgerEntry.objects.filter(lead=lead).values_list("kind", "amount").order_by("id")) == [
        ("lead", Decimal("1000.00")), ("approved", Decimal("5000.00")),
    ]


def test_a_disbursement_arriving_first_charges_the_approval_it_implies_and_itself_once(shelf):
    lead = _handed_off(shelf, price_per_approved=Decimal("5000"), price_per_disbursed=Decimal("20000"))

    postback_apply(lead, "disbursed", occurred_at=timezone.now())
    an_hour_ago = timezone.now() - timedelta(hours=1)
    postback_apply(lead, "approved", occurred_at=an_hour_ago)
    postback_apply(lead, "disbursed", occurred_at=timezone.now())

    kinds = list(LedgerEntry.objects.filter(lead=lead).order_by("id").values_list("kind", flat=True))
    assert kinds == ["lead", "approved", "disbursed"]
    assert campaign_ledger_totals(shelf.campaign).spent == Decimal("26000.00")


def test_results_that_did_not_move_the_lead_are_not_charged(shelf):
    lead = _handed_off(shelf, price_per_approved=Decimal("5000"))
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.NOT_ELIGIBLE)

    effect = postback_apply(lead, "approved", occurred_at=timezone.now())

    assert effect == "contradicts"
    assert not LedgerEntry.objects.filter(lead=lead, kind="approved").exists()


def test_a_result_is_charged_at_most_what_is_left_of_the_budget_with_its_list_price_kept():
    shelf = shelf_with(price_per_lead=Decimal("1000"), budget=Decimal("3000"), price_per_approved=Decimal("5000"))
    lead = started(shelf)
    _deliver(lead)

    (entry,) = campaign_result_charge(lead=lead, status="approved")

    assert (entry.amount, entry.list_price) == (Decimal("2000.00"), Decimal("5000.00"))
    shelf.campaign.refresh_from_db()
    assert shelf.campaign.spent == shelf.campaign.budget


def test_the_budget_alert_is_raised_once_when_spend_crosses_the_threshold():
    shelf = shelf_with(price_per_lead=Decimal("300"), budget=Decimal("1000"), budget_alert_percent=50)
    _deliver(started(shelf))
    shelf.campaign.refresh_from_db()
    assert shelf.campaign.budget_alerted_at is None

    _deliver(started(shelf))
    shelf.campaign.refresh_from_db()
    first_alert = shelf.campaign.budget_alerted_at
    _deliver(started(shelf))
    shelf.campaign.refresh_from_db()

    assert first_alert is not None and shelf.campaign.budget_alerted_at == first_alert


def test_pause_and_resume_switch_the_campaign_and_say_whether_they_did(shelf):
    assert campaign_pause(campaign=shelf.campaign) is True
    assert campaign_pause(campaign=shelf.campaign) is False
    with pytest.raises(DeliveryRefused):
        _deliver(started(shelf))
    assert campaign_resume(campaign=shelf.campaign) is True
    assert _deliver(started(shelf)) is True


def test_the_running_totals_equal_the_ledger_and_a_rebuild_restores_them(shelf):
    for _ in range(3):
        _deliver(started(shelf))
    assert campaign_totals_rebuild(campaign=shelf.campaign).matches

    Campaign.objects.filter(pk=shelf.campaign.pk).update(spent=Decimal("1.00"), leads_delivered=0, counted_day_leads=0)
    CampaignOrigin.objects.filter(campaign=shelf.campaign).update(leads_delivered=0)
    check = campaign_totals_rebuild(campaign=shelf.campaign)

    shelf.campaign.refresh_from_db()
    assert not check.matches
    assert (shelf.campaign.spent, shelf.campaign.leads_delivered, shelf.campaign.counted_day_leads) == (
        Decimal("3000.00"), 3, 3)
    assert shelf.campaign.campaign_origins.get().leads_delivered == 3
