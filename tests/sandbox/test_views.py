"""The sandbox lender's API and portal, through Django's test client and over real HTTP."""

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.test import Client

from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from apps.sandbox.services import annuity_payment
from tests.factories import LeadFactory, ProductFactory, sandbox_lender


def tracking() -> str:
    return f"movilco_{uuid.uuid4()}"


# --- switches and authentication ------------------------------------------------------------


def test_every_sandbox_view_is_a_404_when_the_sandbox_is_disabled(api, settings):
    settings.SANDBOX_ENABLED = False
    assert api.decide(tracking()).status_code == 404
    assert api.client.get(f"{api.base}/decisions/abc", **api.headers()).status_code == 404
    assert api.apply(tracking(), "OF-001").status_code == 404
    assert api.client.get(f"/sandbox/portal/{api.lender.code}/sign?ref=APP-1").status_code == 404
    assert api.client.post(f"/sandbox/portal/{api.lender.code}/postback", {"status": "approved"}).status_code == 404


def test_a_wrong_or_missing_api_key_is_a_401(api):
    assert api.decide(tracking(), api_key="wrong").status_code == 401
    assert api.decide(tracking(), api_key="").status_code == 401
    assert api.decide(tracking(), api_key="wrong").json()["errors"][0]["field"] == "X-Api-Key"


def test_an_unknown_lender_code_is_a_404(api):
    response = api.client.post("/sandbox/embedded/nobody/decisions", "{}", content_type="application/json")
    assert response.status_code == 404


# --- decisions --------------------------------------------------------------------------------


def test_an_approval_offers_up_to_three_terms_priced_by_the_annuity_formula(api):
    tracking_id = tracking()
    body = api.decide(tracking_id).json()
    assert body["trackingId"] == tracking_id and body["decision"] == "approved"
    offers = body["offers"]
    assert [offer["termMonths"] for offer in offers] == [6, 27, 48]
    for offer in offers:
        assert api.product.min_amount <= offer["amount"] <= api.product.max_amount
        expected = annuity_payment(Decimal(offer["amount"]), Decimal(str(offer["annualRate"])), offer["termMonths"])
        assert Decimal(str(offer["monthlyPayment"])) == expected
        assert offer["monthlyPayment"] <= 3_200_000 * 0.30 + 0.01
        assert offer["offerUrl"].startswith(f"http://testserver/sandbox/portal/{api.lender.code}/sign?ref=APP-")


def test_a_requested_amount_caps_every_offer(api):
    offers = api.decide(tracking(), requestedAmount=2_000_000).json()["offers"]
    assert offers and all(offer["amount"] <= 2_000_000 for offer in offers)


def test_an_income_below_the_threshold_is_rejected_as_not_eligible(api):
    body = api.decide(tracking(), consumer={"monthlyIncome": 1_199_999}).json()
    assert (body["decision"], body["reason"], body["offers"]) == ("rejected", "consumer_not_eligible", [])


def test_invalid_fields_are_a_422_naming_each_field(api):
    response = api.decide(tracking(), productId="ln_personal_99999",
                          consumer={"documentType": "XX", "monthlyIncome": -5, "fullName": ""})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"productId", "consumer.documentType", "consumer.monthlyIncome", "consumer.fullName"}


def test_a_repeated_decision_returns_the_first_answer(api):
    tracking_id = tracking()
    first = api.decide(tracking_id).json()
    assert api.decide(tracking_id, consumer={"monthlyIncome": 900_000}).json() == first
    assert SandboxApplication.objects.filter(tracking_id=tracking_id).count() == 1


def test_the_same_tracking_id_at_another_lender_is_another_application(api):
    tracking_id = tracking()
    first = api.decide(tracking_id).json()
    other = sandbox_lender(server_url="http://testserver")
    other_api = type(api)(client=api.client, lender=other, product=ProductFactory(lender=other))
    rejected = other_api.decide(tracking_id, consumer={"monthlyIncome": 900_000}).json()
    assert rejected["decision"] == "rejected" and rejected["applicationRef"] != first["applicationRef"]


def test_a_pending_decision_resolves_after_its_delay(api):
    api.script("", pending_seconds=0)
    tracking_id = tracking()
    assert api.decide(tracking_id, consumer={"monthlyIncome": 2_500_777}).json()["decision"] == "pending"
    polled = api.client.get(f"{api.base}/decisions/{tracking_id}", **api.headers()).json()
    assert polled["decision"] == "approved" and polled["offers"]


def test_polling_an_unknown_tracking_id_is_a_404(api):
    assert api.client.get(f"{api.base}/decisions/{tracking()}", **api.headers()).status_code == 404


# --- applications ---------------------------------------------------------------------------


def test_an_application_redirects_to_the_portal_and_repeats_the_same_redirect(api):
    tracking_id = tracking()
    decision = api.decide(tracking_id).json()
    first = api.apply(tracking_id, decision["offers"][0]["offerId"], lenderApplicationRef=decision["applicationRef"])
    assert first.status_code == 201
    assert first.json() == {
        "trackingId": tracking_id, "status": "submitted",
        "redirectUrl": f"http://testserver/sandbox/portal/{api.lender.code}/sign?ref={decision['applicationRef']}",
    }
    again = api.apply(tracking_id, decision["offers"][1]["offerId"])
    assert again.status_code == 200 and again.json() == first.json()


def test_an_application_without_a_decision_or_with_bad_contact_data_is_a_422(api):
    assert api.apply(tracking(), "OF-001").json()["errors"][0]["field"] == "trackingId"
    tracking_id = tracking()
    api.decide(tracking_id)
    response = api.apply(tracking_id, "OF-001", consumer={"email": "nope", "phone": "12"})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"consumer.email", "consumer.phone"}


def test_the_sandbox_keeps_no_personal_data(api):
    tracking_id = tracking()
    decision = api.decide(tracking_id).json()
    api.apply(tracking_id, decision["offers"][0]["offerId"])
    stored = json.dumps(list(SandboxApplication.objects.values()), default=str)
    for value in ("1020304050", "Ana María Pérez", "ana.perez@example.com", "573001234567"):
        assert value not in stored


# --- the failure script -------------------------------------------------------------------------


def test_the_failure_script_is_consumed_one_step_per_call(api):
    api.script("500, 429, 422, malformed, 200")
    statuses = [api.decide(tracking()) for _ in range(6)]
    assert [response.status_code for response in statuses] == [500, 429, 422, 200, 200, 200]
    assert statuses[1]["Retry-After"] == "1"
    with pytest.raises(ValueError):
        json.loads(statuses[3].content)
    assert json.loads(statuses[4].content)["decision"] == "approved"
    knobs = SandboxLenderSettings.objects.get(lender=api.lender)
    assert (knobs.failure_script, knobs.calls_received) == ("", 6)


def test_an_unknown_step_is_refused_by_validation():
    from django.core.exceptions import ValidationError

    from apps.sandbox.models import validate_failure_script

    validate_failure_script("500, stall, reset, malformed, ok, 200")
    with pytest.raises(ValidationError, match="explode"):
        validate_failure_script("500, explode")


@pytest.fixture
def live_lender(live_server, transactional_db):
    lender = sandbox_lender(server_url=live_server.url)
    product = ProductFactory(lender=lender)
    return lender, product


def live_decide(lender, product, tracking_id=None):
    body = {"trackingId": tracking_id or tracking(), "productId": product.product_id,
            "consumer": {"documentType": "CC", "documentNumber": "1020304050", "fullName": "Ana María Pérez",
                         "monthlyIncome": 3_200_000, "currency": "COP"}}
    return requests.post(f"{lender.base_url}/decisions", json=body, timeout=5,
                         headers={"X-Api-Key": lender.credentials["api_key"]})


def test_concurrent_calls_each_take_their_own_step(live_lender):
    lender, product = live_lender
    SandboxLenderSettings.objects.create(lender=lender, failure_script="500, 500, 500, 500, 500")
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(lambda _: live_decide(lender, product).status_code, range(10)))
    assert statuses == [200] * 5 + [500] * 5
    assert SandboxLenderSettings.objects.get(lender=lender).failure_script == ""


def test_a_reset_step_drops_the_connection_without_an_answer(live_lender):
    lender, product = live_lender
    SandboxLenderSettings.objects.create(lender=lender, failure_script="reset")
    with pytest.raises(requests.ConnectionError):
        live_decide(lender, product)
    assert live_decide(lender, product).status_code == 200


# --- the portal -----------------------------------------------------------------------------


ODD_CLICK_ID = "movilco_3f2c+a/b=c&d%20e é"


def test_the_portal_shows_the_click_id_exactly_and_no_personal_data(api):
    tracking_id = tracking()
    ref = api.decide(tracking_id).json()["applicationRef"]
    response = api.client.get(
        f"/sandbox/portal/{api.lender.code}/sign",
        {"ref": ref, "click_id": ODD_CLICK_ID, "product_id": api.product.product_id, "listing_id": "lst_x1"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    shown = re.search(r'id="click-id">([^<]*)<', html).group(1)
    assert shown == "movilco_3f2c+a/b=c&amp;d%20e é"  # the exact value, HTML-escaped
    assert api.product.product_id in html and "lst_x1" in html and ref in html
    assert 'name="status"' in html and "Enviar postback" in html and 'id="postback-result"' not in html
    for value in ("1020304050", "Ana", "Pérez"):
        assert value not in html


def test_the_portal_sends_a_signed_postback_and_shows_the_answer(live_lender):
    lender, product = live_lender
    lead = LeadFactory(listing__product=product)
    session = requests.Session()
    portal = f"{lender.base_url.split('/sandbox/')[0]}/sandbox/portal/{lender.code}/sign"
    page = session.get(portal, params={"ref": "APP-1", "click_id": lead.tracking_id, "product_id": product.product_id},
                       timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        portal.replace("/sign", "/postback"), timeout=15,
        data={"csrfmiddlewaretoken": token, "status": "approved", "click_id": lead.tracking_id,
              "product_id": product.product_id, "ref": "APP-1"},
    )
    assert answer.status_code == 200
    result = re.search(r'id="postback-result".*?id="postback-status">(\d+)<', answer.text, re.S)
    # Signed with the production signing code and the lender's secret, so the endpoint accepts it.
    assert result and result.group(1) == "202", answer.text
    assert f'id="click-id">{lead.tracking_id}<' in answer.text


def test_the_portal_refuses_an_unknown_status(api):
    response = api.client.post(f"/sandbox/portal/{api.lender.code}/postback", {"status": "won", "click_id": "x"})
    assert response.status_code == 400 and "Elige un estado." in response.content.decode()


def test_the_sandbox_pages_are_reachable_without_a_session(api):
    assert Client().get(f"/sandbox/portal/{api.lender.code}/sign").status_code == 200
