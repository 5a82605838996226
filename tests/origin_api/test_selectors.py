"""What GET /api/v1/leads/{uuid} shows of a lead (apps.origin_api.selectors): offers grouped by
amount with their lender, product, listing and pricing; reasons with the lender's notice,
sanitized; the lenders' side played by the services the engine calls."""

from decimal import Decimal

import pytest

from apps.leads.engine.results import decision_record, decision_store
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer
from apps.origin_api.models import OriginLead
from tests.origin_api.conftest import lead_body

pytestmark = pytest.mark.django_db


def _offer(offer_id: str, amount: int, payment: int, rate: str = "0.2850", term: int = 24) -> Offer:
    return Offer(lender_offer_id=offer_id, amount=Decimal(amount), term_months=term,
                 monthly_payment=Decimal(payment), annual_rate=Decimal(rate))


def _lead(caller):
    uuid = caller.post_lead(lead_body()).json()["uuid"]  # asks for 3,000,000
    return OriginLead.objects.select_related("lead").get(uuid=uuid).lead, uuid


def test_offers_are_grouped_by_amount_with_lender_product_listing_and_pricing(caller, market):
    _origin, (alfa, beta) = market
    lead, uuid = _lead(caller)
    decision_record(lead_id=lead.pk, lender_id=alfa.pk, result=DecisionResult(
        decision=DecisionKind.APPROVED, offers=(_offer("A-1", 3_000_000, 160_000), _offer("A-2", 5_000_000, 265_000))))
    decision_record(lead_id=lead.pk, lender_id=beta.pk, result=DecisionResult(
        decision=DecisionKind.APPROVED, offers=(_offer("B-1", 2_000_000, 110_000, term=18),)))

    body = caller.get_lead(uuid).json()

    assert body["status"] == "offers_found" and (body["lendersAsked"], body["lendersAnswered"]) == (2, 2)
    assert {group: [offer["amount"] for offer in offers] for group, offers in body["offers"].items()} == {
        "requested": ["3000000.00"], "higher": ["5000000.00"], "lower": ["2000000.00"]}
    lower = body["offers"]["lower"][0]
    assert lower.pop("offerUrl").startswith("http://127.0.0.1:8000/offer/")  # ours, with our ids only
    ask = lead.decision_requests.get(lender=beta)
    assert lower == {
        "lenderCode": "beta", "lenderName": "Fintech Beta", "productId": ask.product.product_id,
        "listingId": ask.listing.listing_id, "amount": "2000000.00", "currency": "COP", "termMonths": 18,
        "monthlyPayment": "110000.00", "annualRate": "0.2850", "apr": None, "totalToRepay": "1980000.00"}
    assert body["reasons"] == [] and body["selectedOffer"] is None


def test_a_search_without_offers_carries_each_lenders_reason_and_its_notice_sanitized(caller, market):
    _origin, (alfa, beta) = market
    lead, uuid = _lead(caller)
    notice = '<h3>Notice of Action Taken</h3><p onclick="steal()">Income below our minimum.</p><script>x()</script>'
    decision_store(lead_id=lead.pk, lender=alfa, result=DecisionResult(
        decision=DecisionKind.REJECTED, reason="INCOME_TOO_LOW", reason_category="income", notice_html=notice))
    decision_store(lead_id=lead.pk, lender=beta, result=DecisionResult(
        decision=DecisionKind.REJECTED, reason="Does not meet our credit policy"))

    body = caller.get_lead(uuid).json()

    assert body["status"] == "no_offers"
    assert body["offers"] == {"requested": [], "higher": [], "lower": []}
    by_lender = {reason["lenderCode"]: reason for reason in body["reasons"]}
    assert by_lender["alfa"]["category"] == "income"
    shown = by_lender["alfa"]["adverseActionNotice"]
    assert "Income below our minimum." in shown and "<script" not in shown and "onclick" not in shown
    assert by_lender["beta"]["category"] == "credit_policy" and by_lender["beta"]["adverseActionNotice"] is None


def test_the_lead_view_costs_a_bounded_number_of_queries(caller, market, django_assert_max_num_queries):
    _origin, lenders = market
    lead, uuid = _lead(caller)
    for n, lender in enumerate(lenders):
        decision_record(lead_id=lead.pk, lender_id=lender.pk, result=DecisionResult(
            decision=DecisionKind.APPROVED, offers=tuple(_offer(f"O-{n}-{k}", 3_000_000 + k, 160_000) for k in range(3))))

    with django_assert_max_num_queries(9):  # the token and its client (3), the lead (1), its view (5)
        assert len(caller.get_lead(uuid).json()["offers"]["higher"]) == 4
