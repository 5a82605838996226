"""A small marketplace for campaign tests: one origin, listings published by campaigns, and
journeys started on them the way the flow starts them (apps.leads.services.journey_start)."""

from decimal import Decimal

import pytest

from apps.campaigns.models import Campaign
from apps.leads import services as lead_services
from apps.leads.models import Lead
from apps.listings.models import Listing
from tests.factories import Shelf, shelf_with

IDENTITY = lead_services.IdentityData(
    document_type="CC", document_number="1020304050", full_name="Ana Pérez", monthly_income=3_500_000
)


def started(shelf: Shelf, listing: Listing | None = None, campaign: Campaign | None = None, **lead_fields) -> Lead:
    lead = lead_services.journey_start(
        origin=shelf.origin, listing=listing or shelf.listing, campaign=campaign or shelf.campaign
    )
    for name, value in lead_fields.items():
        setattr(lead, name, value)
    if lead_fields:
        lead.save(update_fields=list(lead_fields))  # save(), so encrypted fields are encrypted
    return lead


@pytest.fixture
def shelf(db) -> Shelf:
    return shelf_with(price_per_lead=Decimal("1000"), budget=Decimal("100000"))
