"""EmbeddedFlowAdapter against the sandbox lender over real HTTP (live_server).

Written as a contract every adapter should pass against its sandbox: results for approvals and
rejections, the right failure class for each way a lender can fail, idempotency by tracking ID.
"""

import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import (
    AdapterConfigurationError,
    Consumer,
    Decision,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    SubmitRequest,
    TechnicalFailure,
)
from apps.lenders.adapters.embedded import EmbeddedFlowAdapter, _decision
from apps.lenders.config import idempotency_key, lender_config_for
from apps.lenders.http import Exchange, HttpResponse

CONSUMER = Consumer(
    document_type="CC", document_number="1020304050", full_name="Ana María Pérez", monthly_income=3_200_000,
    email="ana.perez@example.com", phone="+573001234567",
)


def adapter_for(lender, **config_changes):
    config = replace(lender_config_for(lender), **config_changes)
    return adapter_class(lender.adapter)(config)


def prequalify(sandbox, tracking_id=None, consumer=CONSUMER, **config_changes):
    request = PrequalifyRequest(
        tracking_id=tracking_id or f"movilco_{uuid.uuid4()}", product_id=sandbox.product.product_id,
        listing_id="lst_test000001", consumer=consumer,
    )
    return adapter_for(sandbox.lender, **config_changes).prequalify(
        request, idempotency_key=idempotency_key(request.tracking_id, "prequalify")
    )


def test_the_registry_maps_embedded_to_this_adapter():
    assert adapter_class("embedded") is EmbeddedFlowAdapter


def test_an_approval_comes_with_offers_in_decimals(sandbox):
    result = prequalify(sandbox)
    assert result.decision is Decision.APPROVED
    assert 2 <= len(result.offers) <= 3
    for offer in result.offers:
        assert isinstance(offer.amount, Decimal) and offer.amount >= sandbox.product.min_amount
        assert isinstance(offer.monthly_payment, Decimal) and offer.monthly_payment > 0
        assert sandbox.product.min_annual_rate <= offer.annual_rate <= sandbox.product.max_annual_rate
        assert offer.currency == "COP"
    assert result.lender_reference.startswith("APP-")


def test_a_rejection_is_a_result_not_an_error(sandbox):
    result = prequalify(sandbox, consumer=replace(CONSUMER, monthly_income=900_000))
    assert result.decision is Decision.REJECTED
    assert result.reason == "consumer_not_eligible"
    assert result.offers == ()


def test_a_wrong_api_key_is_a_permanent_failure(sandbox):
    with pytest.raises(PermanentFailure) as failure:
        prequalify(sandbox, credentials={"api_key": "not-the-key"})
    assert failure.value.exchange.status == 401


def test_a_missing_api_key_is_a_configuration_error(sandbox):
    with pytest.raises(AdapterConfigurationError):
        prequalify(sandbox, credentials={})


def test_a_422_is_a_permanent_failure_with_the_lenders_field_messages(sandbox):
    with pytest.raises(PermanentFailure) as failure:
        prequalify(sandbox, consumer=replace(CONSUMER, document_type="XX"))
    assert failure.value.exchange.status == 422
    assert any(detail.startswith("consumer.documentType: Must be one of") for detail in failure.value.details)


def test_a_500_is_a_technical_failure(sandbox):
    sandbox.script("500")
    with pytest.raises(TechnicalFailure) as failure:
        prequalify(sandbox)
    assert failure.value.exchange.status == 500


def test_a_429_is_a_technical_failure_with_retry_after(sandbox):
    sandbox.script("429")
    with pytest.raises(TechnicalFailure) as failure:
        prequalify(sandbox)
    assert failure.value.retry_after == 1.0


@pytest.mark.parametrize("step", ["malformed", "reset"])
def test_a_malformed_answer_or_a_dropped_connection_is_a_technical_failure(sandbox, step):
    sandbox.script(step)
    with pytest.raises(TechnicalFailure):
        prequalify(sandbox)


def test_a_stalled_lender_is_a_technical_failure_at_the_deadline(sandbox, settings):
    settings.LENDER_TIMEOUT_CAP_SECONDS = 1.0
    sandbox.script("stall", stall_seconds=1.5)
    with pytest.raises(TechnicalFailure, match="deadline"):
        prequalify(sandbox)


def test_a_repeated_call_returns_the_first_answer(sandbox):
    tracking_id = str(uuid.uuid4())
    first = prequalify(sandbox, tracking_id=tracking_id)
    again = prequalify(sandbox, tracking_id=tracking_id, consumer=replace(CONSUMER, monthly_income=900_000))
    assert again.decision is Decision.APPROVED
    assert again.offers == first.offers
    assert again.lender_reference == first.lender_reference


def test_submit_returns_the_portal_redirect_and_the_same_one_on_repeat(sandbox, live_server):
    tracking_id = f"movilco_{uuid.uuid4()}"
    decision = prequalify(sandbox, tracking_id=tracking_id)
    request = SubmitRequest(
        tracking_id=tracking_id, product_id=sandbox.product.product_id, listing_id="lst_test000001",
        consumer=CONSUMER, offer=decision.offers[0], lender_reference=decision.lender_reference,
    )
    adapter = adapter_for(sandbox.lender)
    result = adapter.submit(request, idempotency_key=idempotency_key(tracking_id, "submit"))
    assert result.status == "submitted"
    assert result.redirect_url == (
        f"{live_server.url}/sandbox/portal/{sandbox.lender.code}/sign?ref={decision.lender_reference}"
    )
    repeat = adapter_for(sandbox.lender).submit(request, idempotency_key=idempotency_key(tracking_id, "submit"))
    assert repeat.redirect_url == result.redirect_url


def test_submitting_an_offer_the_lender_never_made_is_a_permanent_failure(sandbox):
    tracking_id = str(uuid.uuid4())
    prequalify(sandbox, tracking_id=tracking_id)
    stranger = Offer(lender_offer_id="OF-999", amount=Decimal("1"), term_months=1,
                     monthly_payment=Decimal("1"), annual_rate=Decimal("0.1"))
    request = SubmitRequest(tracking_id=tracking_id, product_id=sandbox.product.product_id,
                            listing_id="lst_test000001", consumer=CONSUMER, offer=stranger)
    with pytest.raises(PermanentFailure) as failure:
        adapter_for(sandbox.lender).submit(request, idempotency_key="k")
    assert any(detail.startswith("selectedOfferId:") for detail in failure.value.details)


def test_a_pending_decision_is_resolved_by_polling(sandbox):
    sandbox.script("", pending_seconds=0)
    tracking_id = str(uuid.uuid4())
    first = prequalify(sandbox, tracking_id=tracking_id, consumer=replace(CONSUMER, monthly_income=2_500_777))
    assert first.decision is Decision.PENDING
    polled = adapter_for(sandbox.lender).poll(tracking_id)
    assert polled.decision is Decision.APPROVED and polled.offers


# --- strict parsing of the lender's answer (no server needed) ---------------------------------


def parse(body: bytes, tracking_id: str = "t-1"):
    exchange = Exchange(method="POST", url="http://lender.test/decisions", request_headers={}, request_body="")
    return _decision(HttpResponse(status=200, body=body, headers={}, exchange=exchange), tracking_id=tracking_id, currency="COP")


OFFER = b'{"offerId": "OF-1", "amount": 5000000, "termMonths": 24, "monthlyPayment": 265000.5, "annualRate": 0.28}'


def test_offers_are_parsed_into_decimals_through_their_text():
    result = parse(b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER + b"]}")
    offer = result.offers[0]
    assert (offer.amount, offer.monthly_payment, offer.annual_rate) == (
        Decimal("5000000.00"), Decimal("265000.50"), Decimal("0.2800")
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"trackingId": "t-1", "offers": []}',
        b'{"trackingId": "t-1", "decision": "maybe"}',
        b'{"trackingId": "T-1", "decision": "rejected"}',
        b'{"trackingId": "t-1 ", "decision": "rejected"}',
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER.replace(b"5000000", b"-5") + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER.replace(b"24", b"24.5") + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER.replace(b"5000000", b'"lots"') + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER.replace(b"5000000", b"true") + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER.replace(b"5000000", b"NaN") + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": [' + OFFER + b"," + OFFER + b"]}",
        b'{"trackingId": "t-1", "decision": "approved", "offers": {"OF-1": 1}}',
        b'["t-1", "approved"]',
    ],
    ids=["no-decision", "unknown-decision", "tracking-id-case", "tracking-id-space", "negative-amount",
         "fractional-term", "text-amount", "boolean-amount", "nan-amount", "duplicate-offer", "offers-object", "list"],
)
def test_an_answer_that_does_not_fit_the_contract_is_unparseable(body):
    with pytest.raises(TechnicalFailure):
        parse(body)
