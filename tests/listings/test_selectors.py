from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.campaigns.catalog import catalog_entry, catalog_for_origin, listing_why_not_shown
from apps.campaigns.models import Campaign, CampaignOrigin
from apps.campaigns.selectors import marketplace_day
from apps.listings.selectors import listing_get
from apps.products.models import Product
from tests.factories import CampaignFactory, ListingFactory, OriginFactory, ProductFactory, publish


@pytest.mark.django_db
def test_catalog_shows_only_listings_a_live_campaign_publishes_for_the_origin():
    origin, other_origin = OriginFactory(), OriginFactory()
    shown = ListingFactory()
    publish(listing=shown, origin=origin)
    publish(listing=ListingFactory(), origin=other_origin)
    publish(listing=ListingFactory(), origin=origin, is_active=False)
    publish(listing=ListingFactory(), origin=origin, starts_at=timezone.now() + timedelta(days=1))
    publish(listing=ListingFactory(), origin=origin, ends_at=timezone.now() - timedelta(minutes=1),
            starts_at=timezone.now() - timedelta(days=2))
    inactive_listing = ListingFactory(is_active=False)
    publish(listing=inactive_listing, origin=origin)

    assert [entry.listing for entry in catalog_for_origin(origin=origin)] == [shown]


@pytest.mark.django_db
def test_catalog_hides_listings_of_inactive_lenders_and_products():
    origin = OriginFactory()
    listing = ListingFactory()
    publish(listing=listing, origin=origin)
    listing.product.lender.is_active = False
    listing.product.lender.save()

    assert catalog_for_origin(origin=origin) == []


@pytest.mark.django_db
def test_catalog_orders_by_campaign_priority_and_lists_a_listing_once():
    origin = OriginFactory()
    low, high = ListingFactory(), ListingFactory()
    publish(listing=low, origin=origin, priority=50)
    publish(listing=high, origin=origin, priority=5)
    publish(listing=high, origin=origin, priority=60)

    entries = catalog_for_origin(origin=origin)

    assert [entry.listing for entry in entries] == [high, low]
    assert entries[0].campaign.priority == 5


@pytest.mark.django_db
def test_catalog_queries_stay_bounded_whatever_the_number_of_listings(django_assert_max_num_queries):
    origin = OriginFactory()
    for _ in range(25):
        publish(listing=ListingFactory(), origin=origin)

    with django_assert_max_num_queries(1):
        entries = catalog_for_origin(origin=origin)
        [(entry.listing.title, entry.listing.product.name, entry.campaign.lender.name) for entry in entries]

    assert len(entries) == 25


@pytest.mark.django_db
def test_catalog_entry_finds_a_published_listing_by_its_public_id_only():
    origin = OriginFactory()
    listing = ListingFactory()
    publish(listing=listing, origin=origin)

    assert catalog_entry(origin=origin, listing_id=listing.listing_id).listing == listing
    assert catalog_entry(origin=origin, listing_id="lst_unknown") is None


@pytest.mark.django_db
def test_catalog_orders_by_priority_then_by_weight():
    origin = OriginFactory()
    light, heavy, first = ListingFactory(), ListingFactory(), ListingFactory()
    publish(listing=light, origin=origin, priority=20, weight=10)
    publish(listing=heavy, origin=origin, priority=20, weight=90)
    publish(listing=first, origin=origin, priority=5, weight=1)

    assert [entry.listing for entry in catalog_for_origin(origin=origin)] == [first, heavy, light]


@pytest.mark.django_db
def test_rotation_orders_equal_priorities_by_weighted_draw_stable_for_one_key():
    origin = OriginFactory()
    heavy, light = ListingFactory(), ListingFactory()
    publish(listing=heavy, origin=origin, weight=900)
    publish(listing=light, origin=origin, weight=100)

    firsts = Counter(catalog_for_origin(origin=origin, rotation_key=f"session-{n}")[0].listing for n in range(200))
    again = [catalog_for_origin(origin=origin, rotation_key="session-7")[0].listing for _ in range(3)]

    assert 150 <= firsts[heavy] <= 198  # about 90 %
    assert firsts[light] > 0
    assert len(set(again)) == 1


@pytest.mark.django_db
def test_catalog_keeps_at_most_the_limit_but_any_published_listing_can_still_be_chosen():
    origin = OriginFactory()
    listings = [ListingFactory() for _ in range(5)]
    for n, listing in enumerate(listings):
        publish(listing=listing, origin=origin, priority=n)

    assert [entry.listing for entry in catalog_for_origin(origin=origin, limit=2)] == listings[:2]
    assert catalog_entry(origin=origin, listing_id=listings[4].listing_id).listing == listings[4]


def _capped(listing, origin, **fields):
    return publish(listing=listing, origin=origin, **fields)


HIDING_RULES = {
    "draft": {"is_draft": True},
    "paused": {"is_active": False},
    "scheduled": {"starts_at": timezone.now() + timedelta(days=2)},
    "total_cap": {"total_lead_cap": 3, "leads_delivered": 3},
    "budget": {"budget": Decimal("5000"), "spent": Decimal("4500"), "price_per_lead": Decimal("600")},
}


@pytest.mark.django_db
@pytest.mark.parametrize("rule", sorted(HIDING_RULES))
def test_a_listing_disappears_when_its_campaign_cannot_deliver_and_staff_see_why(rule):
    origin = OriginFactory()
    listing = ListingFactory()
    publish(listing=listing, origin=origin, **HIDING_RULES[rule])

    assert catalog_for_origin(origin=origin) == []
    explanation = listing_why_not_shown(listing=listing, origin=origin)
    assert (explanation.shown, explanation.reason.rule) == (False, rule)


@pytest.mark.django_db
def test_daily_caps_overall_and_per_origin_hide_the_listing_until_the_next_marketplace_day():
    origin = OriginFactory()
    overall, per_origin = ListingFactory(), ListingFactory()
    capped = publish(listing=overall, origin=origin, daily_lead_cap=2)
    capped_here = publish(listing=per_origin, origin=origin)
    CampaignOrigin.objects.filter(campaign=capped_here).update(daily_lead_cap=1)
    yesterday_capped = publish(listing=ListingFactory(), origin=origin, daily_lead_cap=2)
    today = marketplace_day()
    Campaign.objects.filter(pk=capped.pk).update(counted_day=today, counted_day_leads=2)  # from another origin, say
    CampaignOrigin.objects.filter(campaign=capped_here).update(counted_day=today, counted_day_leads=1)
    Campaign.objects.filter(pk=yesterday_capped.pk).update(counted_day=today - timedelta(days=1), counted_day_leads=9)

    assert [entry.campaign for entry in catalog_for_origin(origin=origin)] == [yesterday_capped]
    assert listing_why_not_shown(listing=overall, origin=origin).reason.rule == "daily_cap"
    assert listing_why_not_shown(listing=per_origin, origin=origin).reason.rule == "origin_daily_cap"


@pytest.mark.django_db
def test_listings_of_products_not_live_and_of_lenders_whose_circuit_is_open_are_hidden():
    origin = OriginFactory()
    in_review = ListingFactory(product=ProductFactory(state=Product.State.IN_REVIEW))
    publish(listing=in_review, origin=origin)
    tripped = ListingFactory()
    publish(listing=tripped, origin=origin)
    tripped.product.lender.circuit_state = "open"
    tripped.product.lender.save()

    assert catalog_for_origin(origin=origin) == []
    assert listing_why_not_shown(listing=in_review, origin=origin).reason.rule == "product_not_live"
    assert listing_why_not_shown(listing=tripped, origin=origin).reason.rule == "lender_circuit_open"


@pytest.mark.django_db
def test_the_explainer_names_listing_rules_first_and_says_shown_when_one_campaign_delivers():
    origin, elsewhere = OriginFactory(), OriginFactory()
    listing = ListingFactory()

    assert listing_why_not_shown(listing=listing, origin=origin).reason.rule == "no_campaign"
    publish(listing=listing, origin=elsewhere)
    assert listing_why_not_shown(listing=listing, origin=origin).reason.rule == "origin_not_targeted"
    publish(listing=listing, origin=origin, is_active=False, priority=1)
    assert listing_why_not_shown(listing=listing, origin=origin).reason.rule == "paused"
    publish(listing=listing, origin=origin, priority=2)
    explanation = listing_why_not_shown(listing=listing, origin=origin)
    assert explanation.shown and [v.failure.rule if v.failure else None for v in explanation.campaigns] == [
        "paused", None, "origin_not_targeted"]
    listing.is_active = False
    assert listing_why_not_shown(listing=listing, origin=origin).reason.rule == "listing_inactive"


@pytest.mark.django_db
def test_the_explainer_and_the_catalog_agree_on_every_listing():
    origin = OriginFactory()
    variants = [{}, *HIDING_RULES.values(), {"ends_at": timezone.now() - timedelta(minutes=5),
                                             "starts_at": timezone.now() - timedelta(days=3)}]
    listings = []
    for fields in variants:
        listing = ListingFactory()
        publish(listing=listing, origin=origin, **fields)
        listings.append(listing)
    other_product = CampaignFactory()  # a campaign of another product that lists this listing
    other_product.listings.add(listings[0])
    other_product.origins.add(origin)

    shown = {entry.listing.pk for entry in catalog_for_origin(origin=origin, limit=None)}

    assert shown == {each.pk for each in listings if listing_why_not_shown(listing=each, origin=origin).shown}
    assert shown == {listings[0].pk}


@pytest.mark.django_db
def test_a_listing_gives_its_representative_example_by_listing_id():
    product = ProductFactory(max_annual_rate=Decimal("0.2682"), monthly_fee=Decimal("5000"),
                             opening_fee_percent=Decimal("0.0100"))
    listing = ListingFactory(product=product, example_amount=Decimal("10000000"), example_term_months=36)

    example = listing_get(listing_id=listing.listing_id).representative_example

    monthly = (1 + 0.2682) ** (1 / 12) - 1  # the E.A. rate's monthly equivalent
    annuity = 10_000_000 * monthly / (1 - (1 + monthly) ** -36)
    assert abs(float(example.installment) - annuity) < 0.01
    assert example.monthly_payment == example.installment + Decimal("5000")
    assert example.upfront_fees == Decimal("100000.00")
    assert example.total_to_repay == example.monthly_payment * 36 + Decimal("100000.00")
    assert example.total_cost == example.total_to_repay - Decimal("10000000")


@pytest.mark.django_db
def test_a_listing_shared_by_many_top_campaigns_does_not_crowd_the_others_out():
    origin = OriginFactory()
    shared, other = ListingFactory(), ListingFactory()
    for priority in range(12):  # more than the limit plus the slack read beyond it
        publish(listing=shared, origin=origin, priority=priority)
    publish(listing=other, origin=origin, priority=50)

    entries = catalog_for_origin(origin=origin, limit=2)

    assert [entry.listing for entry in entries] == [shared, other]
    assert entries[0].campaign.priority == 0
