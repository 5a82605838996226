from datetime import timedelta

import pytest
from django.utils import timezone

from apps.listings.selectors import catalog_entry, catalog_for_origin
from tests.factories import ListingFactory, OriginFactory, publish


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

    with django_assert_max_num_queries(3):
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
