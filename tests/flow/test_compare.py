"""Compare mode (Origin.compare_mode): identity once, every eligible lender asked at once, offers
side by side as each lender answers, grouped by amount and sortable; the chosen offer routes the
application to its lender. The lenders' side is played by the services the engine calls."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.leads.engine.results import decision_record
from apps.leads.models import DecisionRequest, Lead, LeadStatus
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.flow.conftest import DETAILS_FORM, IDENTITY_FORM

pytestmark = pytest.mark.django_db


def _offer(offer_id: str, amount: int, payment: int, rate: str, term: int = 24) -> Offer:
    return Offer(lender_offer_id=offer_id, amount=Decimal(amount), term_months=term,
                 monthly_payment=Decimal(payment), annual_rate=Decimal(rate))


@pytest.fixture
def market(db):
    origin = OriginFactory(code="billetera", name="Billetera", compare_mode=True)
    lenders = []
    for code, name in (("alfa", "Banco Alfa"), ("beta", "Fintech Beta")):
        lender = LenderFactory(code=code, name=name)
        publish(listing=ListingFactory(product=ProductFactory(lender=lender), title=f"Crédito {name}"), origin=origin)
        lenders.append(lender)
    return origin, lenders


def _start(client: Client, origin) -> Lead:
    response = client.post(f"/o/{origin.code}/start")
    assert response.status_code == 303
    return Lead.objects.get(public_token=response["Location"].split("/")[2])


def _decide(lead: Lead, lender, *offers: Offer) -> None:
    kind = DecisionKind.APPROVED if offers else DecisionKind.REJECTED
    decision_record(lead_id=lead.pk, lender_id=lender.pk, result=DecisionResult(decision=kind, offers=offers))


def test_the_catalog_offers_one_comparison_instead_of_a_choice_per_listing(client, market):
    origin, _ = market
    page = client.get(f"/o/{origin.code}/").content.decode()

    assert "Comparar todas las ofertas" in page
    assert page.count('action="/o/billetera/start"') == 1
    assert "Banco Alfa" in page and "Fintech Beta" in page


def test_identity_is_given_once_and_every_eligible_lender_is_asked_at_once(
    client, market, django_capture_on_commit_callbacks
):
    origin, lenders = market
    lead = _start(client, origin)
    assert (lead.compare_mode, lead.lender_id) == (True, None)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)
        again = client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)  # a double submit

    assert response["Location"] == again["Location"] == f"/j/{lead.public_token}/decision"
    assert set(DecisionRequest.objects.filter(lead=lead).values_list("lender_id", flat=True)) == {l.pk for l in lenders}
    assert len(callbacks) == 1  # one fan-out enqueued
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.AWAITING_DECISION
    assert lead.consents.count() == 3


def test_offers_appear_as_each_lender_answers_grouped_by_amount_and_sortable(client, market):
    origin, (alfa, beta) = market
    lead = _start(client, origin)
    client.post(f"/j/{lead.public_token}/identity", {**IDENTITY_FORM})
    Lead.objects.filter(pk=lead.pk).update(requested_amount=5_000_000)
    decision_url = f"/j/{lead.public_token}/decision"

    _decide(lead, alfa, _offer("A-1", 5_000_000, 300_000, "0.30"), _offer("A-2", 8_000_000, 420_000, "0.26", term=36))
    page = client.get(decision_url).content.decode()
    assert "Respondieron 1 de 2 entidades" in page and 'id="journey-poll"' in page  # still waiting on Beta
    assert "Banco Alfa" in page and "Por el monto que pediste" in page and "Por un monto mayor" in page
    state = client.get(f"/j/{lead.public_token}/state").json()["state"]

    _decide(lead, beta, _offer("B-1", 5_000_000, 280_000, "0.32"), _offer("B-2", 3_000_000, 170_000, "0.29"))
    assert client.get(f"/j/{lead.public_token}/state").json()["state"] != state  # the poll reloads
    page = client.get(decision_url).content.decode()
    assert 'id="journey-poll"' not in page and "Por un monto menor" in page
    requested = page.split("Por el monto que pediste")[1].split("</fieldset>")[0]
    assert requested.index("Fintech Beta") < requested.index("Banco Alfa")  # by monthly payment

    by_rate = client.get(decision_url + "?sort=rate").content.decode().split("Por el monto que pediste")[1]
    assert by_rate.index("Banco Alfa") < by_rate.index("Fintech Beta")
    by_total = client.get(decision_url + "?sort=total").content.decode()
    assert "Pagas en total $6.720.000" in by_total  # 280.000 x 24


def test_choosing_an_offer_routes_the_application_to_that_lender(client, market, django_capture_on_commit_callbacks):
    origin, (alfa, beta) = market
    lead = _start(client, origin)
    client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)
    _decide(lead, alfa)  # Alfa says no
    _decide(lead, beta, _offer("B-1", 5_000_000, 280_000, "0.32"))
    offer = lead.decisions.get(lender=beta).offers.get()

    chosen = client.post(f"/j/{lead.public_token}/offer", {"offer": offer.pk})
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/j/{lead.public_token}/details", DETAILS_FORM)

    lead.refresh_from_db()
    assert chosen["Location"] == f"/j/{lead.public_token}/details"
    assert (lead.lender_id, lead.chosen_offer_id, lead.status) == (beta.pk, offer.pk, LeadStatus.SUBMITTING)
    assert lead.listing.product.lender_id == beta.pk
    assert len(callbacks) == 2  # the submission, and the consent receipt's email (the address is known now)


def test_when_no_lender_has_an_offer_the_page_says_so_plainly(client, market):
    origin, (alfa, beta) = market
    lead = _start(client, origin)
    client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)
    _decide(lead, alfa)
    _decide(lead, beta)

    page = client.get(f"/j/{lead.public_token}/decision").content.decode()

    assert "Por ahora ninguna entidad tiene una oferta para ti" in page


@pytest.mark.parametrize("lender_count", [2, 8])
def test_the_comparison_page_runs_a_bounded_number_of_queries_whatever_the_number_of_lenders(
    client, market, lender_count, django_assert_max_num_queries
):
    origin, lenders = market
    for n in range(lender_count - 2):
        lender = LenderFactory(code=f"extra{n}", name=f"Extra {n}")
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
        lenders.append(lender)
    lead = _start(client, origin)
    client.post(f"/j/{lead.public_token}/identity", IDENTITY_FORM)
    for n, lender in enumerate(lenders):
        _decide(lead, lender, _offer(f"O-{n}-1", 5_000_000, 300_000 + n, "0.30"),
                _offer(f"O-{n}-2", 6_000_000, 350_000, "0.3"))

    with django_assert_max_num_queries(10):
        response = client.get(f"/j/{lead.public_token}/decision")
    assert response.content.decode().count('name="offer"') == 2 * lender_count
