"""In the hosted flow: a consumer whose listing can no longer take the application (capped,
out of budget, or its conditions) is offered the next eligible listing, and the catalog
counts its views. Through the real views and services, on the test database."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.campaigns.models import Campaign, LedgerEntry
from apps.leads.models import Lead, LeadStatus
from apps.listings.models import ListingDailyViews
from tests.factories import OriginFactory, shelf_with
from tests.flow.conftest import IDENTITY_FORM  # the flow's own form data, kept current with its form

pytestmark = pytest.mark.django_db


def _start(client: Client, shelf) -> Lead:
    response = client.post(f"/o/{shelf.origin.code}/start", {"listing_id": shelf.listing.listing_id})
    assert response.status_code == 303
    return Lead.objects.get(public_token=response["Location"].split("/")[2])


def test_a_consumer_whose_listing_filled_up_is_offered_the_next_one_with_their_answers_kept(client):
    shelf = shelf_with(origin=OriginFactory(code="movilco"), total_lead_cap=1)
    lead = _start(client, shelf)
    Campaign.objects.filter(pk=shelf.campaign.pk).update(total_lead_cap=0)  # someone else took the last place

    offered = client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)

    page = offered.content.decode()
    assert offered.status_code == 200
    assert "Primera oferta ya no puede recibir tu solicitud" in page and "Oferta de respaldo" in page
    assert shelf.fallback.lender.name in page
    assert 'value="1020304050"' in page  # what they typed, still there to confirm
    lead.refresh_from_db()
    assert (lead.status, lead.listing, lead.campaign) == (LeadStatus.NEW, shelf.fallback_listing, shelf.fallback)
    assert not LedgerEntry.objects.exists()

    confirmed = client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)

    assert confirmed.status_code == 303 and confirmed["Location"].endswith("/decision")
    assert LedgerEntry.objects.get().campaign == shelf.fallback


def test_with_no_other_listing_for_their_data_the_consumer_goes_back_to_the_catalog(client):
    shelf = shelf_with(origin=OriginFactory(code="billeteraya"), budget=Decimal("1000"), price_per_lead=Decimal("1000"))
    Campaign.objects.filter(pk=shelf.fallback.pk).update(min_monthly_income=90_000_000)
    lead = _start(client, shelf)
    Campaign.objects.filter(pk=shelf.campaign.pk).update(spent=Decimal("1000"))

    response = client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM, follow=True)

    assert response.redirect_chain[-1][0] == "/o/billeteraya/"
    assert "Esa oferta ya no puede recibir tu solicitud" in response.content.decode()
    lead.refresh_from_db()
    assert (lead.status, lead.listing) == (LeadStatus.NEW, shelf.listing)


def test_the_catalog_counts_one_view_per_listing_shown_per_day(client):
    shelf = shelf_with(origin=OriginFactory(code="movilco"))

    for _ in range(3):
        client.get("/o/movilco/")

    views = dict(ListingDailyViews.objects.values_list("listing_id", "views"))
    assert views == {shelf.listing.pk: 3, shelf.fallback_listing.pk: 3}
