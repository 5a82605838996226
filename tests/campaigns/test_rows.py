"""The delivery's statements in SQL (apps/campaigns/rows.py) read and write as the ORM does."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns import rows
from apps.campaigns.models import Campaign, CampaignOrigin, LedgerEntry
from apps.lenders.models import SECRET_FIELDS
from tests.factories import LeadFactory, LenderFactory, ListingFactory, OriginFactory, publish

pytestmark = pytest.mark.django_db


def published(origin, **campaign_fields) -> Campaign:
    listing = ListingFactory(product__lender=LenderFactory())
    return publish(listing=listing, origin=origin, **campaign_fields)


def test_campaigns_locked_loads_each_campaign_with_its_product_and_lender_as_the_orm_does():
    origin = OriginFactory()
    first, second = published(origin, price_per_lead=Decimal("1250.50")), published(origin)

    with transaction.atomic():
        locked = rows.campaigns_locked([second.pk, first.pk, 999_999])

        assert list(locked) == [first.pk, second.pk]  # id order: the order the locks are taken in
        for campaign in (first, second):
            loaded = Campaign.objects.select_related("product", "lender").get(pk=campaign.pk)
            found = locked[campaign.pk]
            assert [getattr(found, f.attname) for f in Campaign._meta.concrete_fields] == [
                getattr(loaded, f.attname) for f in Campaign._meta.concrete_fields]
            assert found.product.product_id == loaded.product.product_id
            assert found.product.min_amount == loaded.product.min_amount
            assert (found.lender.name, found.lender.is_active, found.lender.circuit_state) == (
                loaded.lender.name, loaded.lender.is_active, loaded.lender.circuit_state)
            # The lender's secrets are not read: they load only if something asks for them.
            assert set(SECRET_FIELDS) <= found.lender.get_deferred_fields()


@pytest.mark.django_db(transaction=True)
def test_campaigns_locked_holds_the_rows_until_the_transaction_ends():
    campaign = published(OriginFactory())
    other = connections.create_connection("default")  # another session, as a concurrent delivery
    try:
        with transaction.atomic():
            rows.campaigns_locked([campaign.pk])
            with pytest.raises(OperationalError), other.cursor() as cursor:
                cursor.execute("SELECT id FROM campaigns_campaign WHERE id = %s FOR UPDATE NOWAIT", [campaign.pk])
        with other.cursor() as cursor:  # released with the transaction
            cursor.execute("SELECT id FROM campaigns_campaign WHERE id = %s FOR UPDATE NOWAIT", [campaign.pk])
    finally:
        other.close()


def test_origin_links_are_each_campaigns_caps_and_counts_for_that_origin_only():
    origin, other = OriginFactory(), OriginFactory()
    campaign = published(origin)
    CampaignOrigin.objects.create(campaign=campaign, origin=other, total_lead_cap=3)
    CampaignOrigin.objects.filter(campaign=campaign, origin=origin).update(daily_lead_cap=7, leads_delivered=2)

    links = rows.origin_links(campaign_ids=[campaign.pk], origin_id=origin.pk)

    assert list(links) == [campaign.pk]
    assert (links[campaign.pk].origin_id, links[campaign.pk].daily_lead_cap, links[campaign.pk].leads_delivered) == (
        origin.pk, 7, 2)
    assert rows.origin_links(campaign_ids=[], origin_id=origin.pk) == {}


def test_the_charge_inserts_the_ledger_rows_and_moves_both_totals_in_one_statement():
    origin = OriginFactory()
    today, now = date(2026, 12, 3), timezone.now()
    fresh = published(origin, price_per_lead=Decimal("1000"))
    yesterday = published(origin, price_per_lead=Decimal("400"))
    Campaign.objects.filter(pk=yesterday.pk).update(counted_day=today - timedelta(days=1), counted_day_leads=5,
                                                    leads_delivered=5, spent=Decimal("2000"))
    CampaignOrigin.objects.filter(campaign=fresh).update(counted_day=today, counted_day_leads=2, leads_delivered=2)
    lead = LeadFactory(origin=origin)
    entries = [
        LedgerEntry(campaign=campaign, lead=lead, origin=origin, lender_id=campaign.lender_id, kind=LedgerEntry.Kind.LEAD,
                    amount=campaign.price_per_lead, list_price=campaign.price_per_lead, currency=campaign.currency,
                    day=today, created_at=now)
        for campaign in (fresh, yesterday)
    ]

    with CaptureQueriesContext(connection) as queries:
        rows.lead_deliveries_charge(entries, origin_id=origin.pk, day=today, now=now)

    assert len(queries) == 1
    stored = {entry.campaign_id: entry for entry in LedgerEntry.objects.filter(lead=lead)}
    assert {entry.campaign_id: entry.pk for entry in entries} == {pk: entry.pk for pk, entry in stored.items()}
    assert (stored[fresh.pk].amount, stored[fresh.pk].day, stored[fresh.pk].created_at) == (Decimal("1000.00"), today, now)
    fresh.refresh_from_db()
    yesterday.refresh_from_db()
    assert (fresh.spent, fresh.leads_delivered, fresh.counted_day, fresh.counted_day_leads) == (
        Decimal("1000.00"), 1, today, 1)
    # A count of an earlier day restarts at one; the total goes on.
    assert (yesterday.spent, yesterday.leads_delivered, yesterday.counted_day, yesterday.counted_day_leads) == (
        Decimal("2400.00"), 6, today, 1)
    link = CampaignOrigin.objects.get(campaign=fresh, origin=origin)
    assert (link.leads_delivered, link.counted_day_leads) == (3, 3)
