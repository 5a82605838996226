"""Campaign states move by time and spend alone; delivery conditions read the consumer's data."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignState
from apps.campaigns.selectors import (
    LeadFacts,
    age_on,
    campaign_required_fields,
    campaign_state,
    campaign_state_q,
    lead_facts,
    lead_rule_failure,
    marketplace_day,
)
from tests.factories import CampaignFactory, LeadFactory, ProductFactory

NOW = timezone.now()


def _campaign(**fields) -> Campaign:
    return Campaign(starts_at=NOW - timedelta(days=1), **fields)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, CampaignState.ACTIVE),
        ({"is_draft": True}, CampaignState.DRAFT),
        ({"starts_at": NOW + timedelta(hours=1)}, CampaignState.SCHEDULED),
        ({"ends_at": NOW - timedelta(seconds=1)}, CampaignState.ENDED),
        ({"is_active": False}, CampaignState.PAUSED),
        ({"is_active": False, "ends_at": NOW - timedelta(seconds=1)}, CampaignState.ENDED),
        ({"budget": Decimal("1000"), "spent": Decimal("1000")}, CampaignState.EXHAUSTED),
        ({"budget": Decimal("1000"), "spent": Decimal("900"), "price_per_lead": Decimal("200")},
         CampaignState.EXHAUSTED),
        ({"budget": Decimal("1000"), "spent": Decimal("800"), "price_per_lead": Decimal("200")}, CampaignState.ACTIVE),
        ({"total_lead_cap": 5, "leads_delivered": 5}, CampaignState.EXHAUSTED),
    ],
)
def test_the_state_follows_the_switches_the_schedule_and_the_spend(fields, state):
    defaults = {"starts_at": NOW - timedelta(days=1)}
    assert campaign_state(Campaign(**{**defaults, **fields}), NOW) == state


@pytest.mark.django_db
def test_the_state_filter_in_sql_agrees_with_the_state_of_each_campaign():
    product = ProductFactory()
    variants = [
        {}, {"is_draft": True}, {"starts_at": NOW + timedelta(hours=1)}, {"ends_at": NOW - timedelta(minutes=1)},
        {"is_active": False}, {"budget": Decimal("10"), "spent": Decimal("10")}, {"total_lead_cap": 0},
        {"budget": Decimal("10"), "spent": Decimal("5"), "price_per_lead": Decimal("6")}, {"budget": Decimal("99")},
    ]
    campaigns = [CampaignFactory(product=product, **fields) for fields in variants]

    for state in CampaignState.values:
        in_sql = set(Campaign.objects.filter(campaign_state_q(state, NOW)).values_list("pk", flat=True))
        assert in_sql == {c.pk for c in campaigns if campaign_state(c, NOW) == state}, state


def test_the_marketplace_day_turns_at_midnight_in_bogota_not_utc():
    late_evening_in_bogota = datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("America/Bogota"))

    assert marketplace_day(late_evening_in_bogota) == date(2026, 3, 1)  # already March 2nd in UTC


def test_age_counts_whole_years_up_to_the_birthday():
    assert age_on(date(2000, 6, 15), date(2026, 6, 14)) == 25
    assert age_on(date(2000, 6, 15), date(2026, 6, 15)) == 26


def _product(**fields):
    return ProductFactory.build(**fields)


@pytest.mark.parametrize(
    ("product", "campaign", "facts", "rule"),
    [
        ({}, {}, LeadFacts(), None),
        ({"min_monthly_income": 2_000_000}, {}, LeadFacts(monthly_income=1_999_999), "income"),
        ({}, {"min_monthly_income": 2_000_000}, LeadFacts(monthly_income=2_000_000), None),
        ({}, {"min_monthly_income": 2_000_000}, LeadFacts(), "income"),
        ({}, {}, LeadFacts(requested_amount=Decimal("99000000")), "requested_amount"),
        ({}, {"min_requested_amount": Decimal("1000000")}, LeadFacts(), "requested_amount"),
        ({}, {"max_requested_amount": Decimal("3000000")}, LeadFacts(requested_amount=Decimal("3000001")),
         "requested_amount"),
        ({}, {}, LeadFacts(requested_term_months=120), "requested_term"),
        ({"document_types": ["CC"]}, {}, LeadFacts(document_type="PA"), "document_type"),
        ({}, {"document_types": ["CC", "CE"]}, LeadFacts(document_type="CE"), None),
        ({"min_age": 21}, {}, LeadFacts(age=20), "age"),
        ({"min_age": 21}, {"max_age": 60}, LeadFacts(age=61), "age"),
        ({}, {"min_age": 18}, LeadFacts(), "age"),
        ({"regions": ["CO-DC"]}, {}, LeadFacts(region="CO-ANT"), "region"),
        ({}, {"regions": ["CO-DC", "CO-ANT"]}, LeadFacts(region="CO-ANT"), None),
        ({}, {"regions": ["CO-DC"]}, LeadFacts(), "region"),
    ],
)
def test_delivery_conditions_combine_the_product_and_the_campaign_and_unknown_data_fails(
    product, campaign, facts, rule
):
    subject = _campaign(product=_product(**product), **campaign)

    failure = lead_rule_failure(subject, facts)

    assert (failure.rule if failure else None) == rule


@pytest.mark.django_db
def test_lead_facts_read_the_decrypted_birth_date_and_the_region():
    lead = LeadFactory(birth_date="1990-05-20", region="CO-DC", monthly_income=2_500_000, document_type="CC",
                       requested_amount=4_000_000)

    facts = lead_facts(lead, date(2026, 5, 19))

    assert facts == LeadFacts(monthly_income=2_500_000, requested_amount=Decimal(4_000_000), requested_term_months=None,
                              document_type="CC", age=35, region="CO-DC")


@pytest.mark.parametrize(
    ("product", "campaign", "fields"),
    [
        ({}, {}, ()),
        ({"min_age": 21}, {}, ("birth_date",)),
        ({}, {"regions": ["CO-DC"]}, ("region",)),
        ({"regions": ["CO-ANT"]}, {"max_requested_amount": Decimal("5000000"), "max_age": 70},
         ("birth_date", "region", "requested_amount")),
    ],
)
def test_the_flow_is_told_which_extra_fields_a_campaigns_conditions_read(product, campaign, fields):
    assert campaign_required_fields(_campaign(product=_product(**product), **campaign)) == fields
