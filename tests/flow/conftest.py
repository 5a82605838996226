"""Fixtures for the hosted flow: a published listing and a browser session walking a journey."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.leads.engine.results import decision_fail, decision_record, submission_fail, submission_record
from apps.leads.models import Lead
from apps.leads.rows import lead_postback_apply
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from apps.listings.models import Listing
from apps.origins.models import Origin
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish

IDENTITY_FORM = {
    "document_type": "CC",
    "document_number": "1020304050",
    "full_name": "Ana María Pérez",
    "monthly_income": "3.500.000",
    "accept_terms": "on",
    "accept_privacy": "on",
    "accept_data_processing": "on",
}
DETAILS_FORM = {"email": "ana.perez@example.com", "phone": "+57 300 123 4567"}
# Values that identify the consumer: they must never show up in a URL.
PERSONAL_VALUES = ("1020304050", "Ana", "Pérez", "ana.perez", "3001234567")
LENDER_REDIRECT = "https://portal.lender.example/sign?ref=APP-99182"


@dataclass
class Shop:
    origin: Origin
    listing: Listing
    campaign: Campaign


@pytest.fixture
def shop(db) -> Shop:
    origin = OriginFactory(code="movilco", name="MovilCo", prefix_tracking_ids=True)
    lender = LenderFactory(name="Banco Aliado")
    listing = ListingFactory(
        product=ProductFactory(lender=lender), title="Préstamo Libre Inversión",
        highlights="Sin codeudor\nDesembolso en 24 horas\n",
    )
    return Shop(origin=origin, listing=listing, campaign=publish(listing=listing, origin=origin))


def lender_postback_applied(lead: Lead, status: str, occurred_at) -> None:
    """The lead's move by a lender's postback, as the postback endpoint makes it (apps.postbacks)."""
    lead_postback_apply(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming=status,
                        occurred_at=occurred_at)


def lender_postback_recorded(lead: Lead, status: str, occurred_at, amount=None) -> None:
    """A postback as the endpoint stores an applied one (its event, on the status page's timeline),
    then the lead's move."""
    from apps.postbacks.models import PostbackEvent

    PostbackEvent.objects.create(
        lender=lead.lender, lead=lead, click_id=lead.tracking_id, status=status, occurred_at=occurred_at,
        amount=amount, currency="COP" if amount else "", effect="applied", raw_body=b"{}",
    )
    lender_postback_applied(lead, status, occurred_at)


def approved(*offer_ids: str) -> DecisionResult:
    return DecisionResult(
        decision=DecisionKind.APPROVED,
        offers=tuple(
            Offer(lender_offer_id=offer_id, amount=Decimal(5_000_000 + 1_000_000 * n), term_months=24,
                  monthly_payment=Decimal("265000"), annual_rate=Decimal("0.2850"))
            for n, offer_id in enumerate(offer_ids)
        ),
    )


class Journey:
    """One browser session walking the flow through the views, with the lender's side played by
    the leads services the lender engine calls."""

    def __init__(self, shop: Shop, client: Client | None = None):
        self.shop = shop
        self.client = client or Client()
        self.lead: Lead | None = None

    def url(self, step: str = "") -> str:
        return f"/j/{self.lead.public_token}/{step}"

    def reload(self) -> Lead:
        self.lead = Lead.objects.select_related("lender", "product", "listing").get(pk=self.lead.pk)
        return self.lead

    def start(self, listing: Listing | None = None):
        response = self.client.post(
            f"/o/{self.shop.origin.code}/start", {"listing_id": (listing or self.shop.listing).listing_id}
        )
        assert response.status_code == 303, response.status_code
        token = response["Location"].split("/")[2]
        self.lead = Lead.objects.get(public_token=token)
        return response

    def give_identity(self, **changes):
        return self.client.post(self.url("identity"), {**IDENTITY_FORM, **changes})

    def lender_decides(self, result: DecisionResult) -> Lead:
        decision_record(lead_id=self.lead.pk, lender_id=self.lead.lender_id, result=result)
        return self.reload()

    def lender_fails_to_decide(self) -> Lead:
        decision_fail(lead_id=self.lead.pk, message="timeout")
        return self.reload()

    def choose_offer(self, offer_id: int | None = None):
        if offer_id is None:
            offer_id = self.lead.decisions.get().offers.order_by("amount").first().pk
        return self.client.post(self.url("offer"), {"offer": offer_id})

    def give_details(self, **changes):
        return self.client.post(self.url("details"), {**DETAILS_FORM, **changes})

    def lender_accepts_submission(self, redirect_url: str = LENDER_REDIRECT) -> Lead:
        submission_record(
            lead_id=self.lead.pk, result=SubmissionResult(status="submitted", redirect_url=redirect_url)
        )
        return self.reload()

    def lender_fails_to_accept_submission(self) -> Lead:
        submission_fail(lead_id=self.lead.pk, message="timeout")
        return self.reload()

    def lender_reports(self, status: str) -> Lead:
        lender_postback_applied(self.reload(), status, timezone.now())
        return self.reload()

    def to_offered(self) -> Lead:
        self.start()
        self.give_identity()
        return self.lender_decides(approved("OF-001", "OF-002"))

    def to_submitting(self) -> Lead:
        self.to_offered()
        self.choose_offer()
        self.give_details()
        return self.reload()

    def to_submitted(self) -> Lead:
        self.to_submitting()
        return self.lender_accepts_submission()


@pytest.fixture
def journey(shop) -> Journey:
    return Journey(shop)
