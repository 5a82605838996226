"""The synchronous offers adapter (seed 003) against its sandbox lender over real HTTP."""

import time
from dataclasses import replace

import pytest

from apps.leads import services as lead_services
from apps.leads.engine.attempt import lender_prequalify_attempt, lender_submit_attempt
from apps.leads.engine.requests import prequalify_request_build
from apps.leads.models import Decision, Lead, LeadStatus, OfferTerms
from apps.leads.selectors import rejection_category
from apps.lenders import selectors
from apps.lenders.adapters.base import Decision as Outcome
from apps.lenders.adapters.base import PermanentFailure
from apps.lenders.adapters.oauth import ClientCredentialsToken
from apps.lenders.adapters.offers_api import TOKEN_PATH
from apps.lenders.config import adapter_for
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxLenderSettings
from apps.sandbox.services import sandbox_tokens_revoke
from tests.factories import LenderFactory, lead_with_journey_data


@pytest.fixture
def offers(sandbox_of):
    return sandbox_of("offers_api")


def request_for(lead):
    return prequalify_request_build(Lead.objects.select_related("product", "listing").get(pk=lead.pk))


def prequalify(sandbox, request):
    return adapter_for(sandbox.lender).prequalify(request, idempotency_key=f"k-{time.monotonic_ns()}")


def tokens_issued(sandbox):
    return SandboxLenderSettings.objects.get(lender=sandbox.lender).tokens_issued


def test_the_adapter_declares_what_the_flow_must_ask_before_prequalify(offers):
    fields = selectors.lender_required_fields(offers.lender)
    assert {"birth_date", "region", "email", "employment_status", "address_line", "city", "postal_code",
            "requested_amount"} <= set(fields)
    assert selectors.journey_fields_for([offers.lender])["birth_date"] == "Fecha de nacimiento"


def test_offers_are_mapped_with_apr_rate_term_payment_fee_and_url(offers):
    lead = lead_with_journey_data(lender=offers.lender)
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=offers.lender.pk)
    decision = Decision.objects.get(lead=lead)
    assert decision.outcome == "approved" and decision.lender_reference  # the referral code
    for offer in decision.offers.all():
        terms = OfferTerms.objects.get(offer=offer)
        assert terms.apr > offer.annual_rate and terms.origination_fee == (offer.amount * 3 / 100).quantize(offer.amount)
        assert f"ref={decision.lender_reference}" in offer.url and offer.amount <= lead.requested_amount
    [call] = LenderCall.objects.filter(lead=lead)
    body = call.request_body
    assert '"date_of_birth":"••••••••90"' in body and '"employment_status_id":7' in body
    assert '"annual_income":"••••••00"' in body
    assert offers.lender.credentials["client_secret"] not in body and "client_secret=%2A%2A%2A" in body
    assert '"access_token":"***"' in call.response_body
    assert '"phone_number":"1234567"' not in body and "Ana María Pérez" not in body


@pytest.mark.parametrize("change, code, category", [
    ({"email": "existing.customer@example.com"}, "MKTPL-100", "existing_customer"),
    ({"birth_date": "2015-01-01"}, "MKTPL-1006", "age"),
    ({"region": "CO-AMA"}, "MKTPL-1007", "region"),
    ({"region": "CO-SAP", "requested_amount": 8_000_000}, "MKTPL-1008", "region"),
    ({"monthly_income": 900_000}, "MKTPL-1009", "credit_policy"),
])
def test_business_outcomes_answered_as_200_with_error_codes_are_rejections(offers, change, code, category):
    lead = lead_with_journey_data(lender=offers.lender, **change)
    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=offers.lender.pk)
    assert (outcome.action, outcome.detail) == ("recorded", "rejected")
    decision = Decision.objects.get(lead=lead)
    assert decision.reason.startswith(code) and Lead.objects.get(pk=lead.pk).status == LeadStatus.NOT_ELIGIBLE
    assert decision.reason_detail.lender_code == code and rejection_category(decision) == category
    assert code not in selectors.rejection_sentence(category)  # the consumer reads a safe sentence


def test_a_data_format_error_is_permanent_and_shows_each_assertion(offers):
    lead = lead_with_journey_data(lender=offers.lender, birth_date="", extra_data={"postal_code": "ABC"})
    request = request_for(lead)
    with pytest.raises(PermanentFailure) as failure:
        prequalify(offers, replace(request, requested_amount=None))
    details = failure.value.details
    assert any(d.startswith("MKTPL-1012-101:") for d in details)
    assert any(d.startswith("MKTPL-1012-171:") for d in details)
    assert any(d.startswith("MKTPL-1012-232:") for d in details)
    assert "MKTPL-1012" in failure.value.message


def test_an_invalid_partner_code_is_a_permanent_auth_failure_without_a_token_refresh(offers):
    # The sandbox checks the code of the lender its URL names: point another lender at it.
    misconfigured = LenderFactory(adapter="offers_api", base_url=offers.lender.base_url,
                                  credentials={**offers.lender.credentials, "partner_source_code": "WRONG"})
    lead = lead_with_journey_data(lender=misconfigured)
    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=misconfigured.pk)
    assert outcome.action == "failed"
    [call] = LenderCall.objects.filter(lead=lead)
    assert (call.outcome, call.http_status) == ("permanent_failure", 401) and "MKTPL-1004" in call.response_body
    assert call.response_body.count("MKTPL-1004") == 1  # one offers call: no refresh for a partner-code 401
    assert tokens_issued(offers) == 1
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.DECISION_FAILED


def test_a_missing_partner_code_is_a_configuration_error_recorded_for_staff(offers):
    credentials = dict(offers.lender.credentials)
    del credentials["partner_source_code"]
    misconfigured = LenderFactory(adapter="offers_api", base_url=offers.lender.base_url, credentials=credentials)
    lead = lead_with_journey_data(lender=misconfigured)
    assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=misconfigured.pk).action == "failed"
    [call] = LenderCall.objects.filter(lead=lead)
    assert call.outcome == "permanent_failure" and "partner_source_code" in call.error


def test_one_token_serves_many_calls(offers):
    lead = lead_with_journey_data(lender=offers.lender)
    request = request_for(lead)
    for _ in range(5):
        assert prequalify(offers, request).decision is Outcome.APPROVED
    assert tokens_issued(offers) == 1


def test_the_token_is_refreshed_before_it_expires(offers):
    offers.script("", token_ttl_seconds=2)
    request = request_for(lead_with_journey_data(lender=offers.lender))
    prequalify(offers, request)
    time.sleep(1.05)  # kept for 80 % of its 2 s, in whole seconds: the next call fetches one before the lender expires it
    adapter = adapter_for(offers.lender)
    adapter.prequalify(request, idempotency_key="k-again")
    assert tokens_issued(offers) == 2
    assert [e.status for e in adapter.http.exchanges] == [200, 200]  # a token, then the offers: no 401


def test_a_401_on_a_revoked_token_refreshes_it_once_and_sends_the_same_request_again(offers):
    request = request_for(lead_with_journey_data(lender=offers.lender))
    first = adapter_for(offers.lender)
    first.prequalify(request, idempotency_key="k-1")
    credentials = offers.lender.credentials
    ours = ClientCredentialsToken(first.http, lender_code=offers.lender.code, token_path=TOKEN_PATH,
                                  client_id=credentials["client_id"], client_secret=credentials["client_secret"])
    sandbox_tokens_revoke(lender=offers.lender, token=ours.get())  # revoked before our cache lets it go
    again = adapter_for(offers.lender)
    assert again.prequalify(request, idempotency_key="k-2").decision is Outcome.APPROVED
    statuses = [(e.url.rsplit("/", 2)[-2], e.status) for e in again.http.exchanges]
    assert [status for _, status in statuses] == [401, 200, 200]
    assert again.http.exchanges[0].request_body == again.http.exchanges[2].request_body
    assert tokens_issued(offers) == 2


def test_choosing_an_offer_hands_the_consumer_to_its_url_without_a_submission_call(offers):
    lead = lead_with_journey_data(lender=offers.lender)
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=offers.lender.pk)
    lead = Lead.objects.get(pk=lead.pk)
    offer = Decision.objects.get(lead=lead).offers.first()
    lead_services.journey_offer_choose(lead=lead, offer_id=offer.pk)
    lead_services.journey_details_submit(lead=lead, email="ana.perez@example.com", phone="+573001234567")
    assert lender_submit_attempt(lead_id=lead.pk).detail == "offer_selected"
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.status == LeadStatus.SUBMITTED and lead.redirect_url == offer.url
    assert not LenderCall.objects.filter(lead=lead, capability="submit").exists()
