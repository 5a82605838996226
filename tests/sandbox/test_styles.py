"""The sandbox lenders of the other API styles (async lead, synchronous offers, mapped JSON):
their documented behaviour and errors, through Django's test client and over real HTTP."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.lenders.adapters import ADAPTERS
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from prosperas.inbound.signing import signed_headers
from tests.factories import ProductFactory, styled_sandbox_lender


def lender_of(style, **fields):
    lender = styled_sandbox_lender(style=style, server_url="http://testserver", **fields)
    ProductFactory(lender=lender)
    return lender


def bearer(client, lender, prefix):
    answer = client.post(f"/sandbox/{prefix}/{lender.code}/{'oauth2/token' if prefix == 'async' else 'oauth/token'}", {
        "grant_type": "client_credentials", "client_id": lender.credentials["client_id"],
        "client_secret": lender.credentials["client_secret"]})
    assert answer.status_code == 200, answer.content
    return {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}"}


# --- OAuth2 token endpoints ---------------------------------------------------------------------


@pytest.mark.parametrize("form, status, error", [
    ({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}, 401, "invalid_client"),
    ({"grant_type": "password", "client_id": "x", "client_secret": "y"}, 400, "unsupported_grant_type"),
])
def test_the_token_endpoint_refuses_what_rfc_6749_refuses(db, form, status, error):
    lender = lender_of("async_lead")
    answer = Client().post(f"/sandbox/async/{lender.code}/oauth2/token", form)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_an_api_call_without_a_valid_token_is_a_401(db):
    lender = lender_of("async_lead")
    answer = Client().post(f"/sandbox/async/{lender.code}/personal/v1/leads", "{}", content_type="application/json",
                           HTTP_AUTHORIZATION="Bearer nope")
    assert answer.status_code == 401 and answer["WWW-Authenticate"].startswith("Bearer")


# --- async lead -----------------------------------------------------------------------------


def lead_body(**borrower):
    return {"partnerLeadId": f"movilco_{uuid.uuid4()}", "loan": {"amount": 3_000_000, "purpose": "personal"},
            "borrower": {"firstName": "Ana", "lastName": "Pérez", "birthDate": "1990-05-17", "email": "a@example.com",
                         "address": {"region": "CO-DC"}, "income": {"annual": 38_400_000, "currency": "COP"}, **borrower}}


def test_a_lead_is_created_then_moves_through_the_status_machine(db):
    lender = lender_of("async_lead")
    client, body = Client(), lead_body()
    auth = bearer(client, lender, "async")
    created = client.post(f"/sandbox/async/{lender.code}/personal/v1/leads", json.dumps(body),
                          content_type="application/json", **auth)
    assert created.status_code == 201 and created.json()["status"] == "created"
    lead_uuid = created.json()["uuid"]
    application = SandboxApplication.objects.get(application_ref=lead_uuid)
    seen = []
    for elapsed in (0.1, 0.3, 0.7, 1.1):  # fractions of pending_seconds (5 s by default)
        start = timezone.now() - timedelta(seconds=5 * elapsed)
        SandboxApplication.objects.filter(pk=application.pk).update(created_at=start, resolves_at=start + timedelta(seconds=5))
        seen.append(client.get(f"/sandbox/async/{lender.code}/personal/v1/leads/{lead_uuid}", **auth).json()["status"])
    assert seen == ["created", "in_progress", "finding_products", "offers_found"]
    again = client.post(f"/sandbox/async/{lender.code}/personal/v1/leads", json.dumps(body),
                        content_type="application/json", **auth)
    assert again.status_code == 200 and again.json()["uuid"] == lead_uuid  # idempotent by partnerLeadId


def test_an_invalid_lead_is_a_400_naming_each_field(db):
    lender = lender_of("async_lead")
    client = Client()
    answer = client.post(f"/sandbox/async/{lender.code}/personal/v1/leads",
                         json.dumps(lead_body(birthDate="17/05/1990", email="")), content_type="application/json",
                         **bearer(client, lender, "async"))
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"borrower.birthDate", "borrower.email"}


# --- synchronous offers ---------------------------------------------------------------------


def offers_body(lender, **changes):
    body = {
        "loan_info": {"loan_purpose_id": 15, "loan_amount": 3_000_000},
        "identification": {"client_reference_id": str(uuid.uuid4()),
                           "partner_source_code": lender.credentials["partner_source_code"]},
        "personal_info": {"first_name": "Ana", "last_name": "Pérez", "date_of_birth": "05/17/1990"},
        "address_info": {"street": "Calle 10", "city": "Bogotá", "state": "DC", "zip_code": "110111"},
        "contact_info": {"email": "ana@example.com"},
        "employment_info": {"employment_status_id": 7, "annual_income": 38_400_000},
    }
    for name, value in changes.items():
        body[name] = {**body[name], **value}
    return body


def post_offers(client, lender, body, key="k1"):
    return client.post(f"/sandbox/offers/{lender.code}/marketplace/application/offers/", json.dumps(body),
                       content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **bearer(client, lender, "offers"))


def test_a_missing_partner_code_is_a_401_mktpl_1001(db):
    lender = lender_of("offers_api")
    answer = post_offers(Client(), lender, offers_body(lender, identification={"partner_source_code": ""}))
    assert answer.status_code == 401 and answer.json()["errors"][0]["code"] == "MKTPL-1001"


def test_offers_carry_apr_fee_and_their_url_and_a_repeat_gets_the_first_answer(db):
    lender = lender_of("offers_api")
    client = Client()
    first = post_offers(client, lender, offers_body(lender)).json()
    assert first["errors"] == [] and first["offers"]
    offer = first["offers"][0]
    assert offer["apr"] > offer["loan_rate"] and offer["origination_fee"] > 0
    assert offer["offer_url"].startswith("http://testserver/sandbox/portal/") and first["referral_code"] in offer["offer_url"]
    again = post_offers(client, lender, offers_body(lender, employment_info={"annual_income": 1}))
    assert again.json() == first


def test_data_format_errors_list_one_assertion_per_field(db):
    lender = lender_of("offers_api")
    body = offers_body(lender, loan_info={"loan_amount": None}, address_info={"state": "d.c."},
                       employment_info={"employment_status_id": 9})
    [error] = post_offers(Client(), lender, body).json()["errors"]
    assert error["code"] == "MKTPL-1012"
    assert [a["code"] for a in error["assertions"]] == ["MKTPL-1012-101", "MKTPL-1012-222", "MKTPL-1012-282"]


# --- mapped JSON (HMAC, seed 004 §2) ---------------------------------------------------------


def mapped_post(lender, body, *, nonce=None, timestamp=None):
    raw = json.dumps(body).encode()
    headers = signed_headers(key=lender.credentials["hmac_key"], secret=lender.credentials["hmac_secret"], raw_body=raw,
                             nonce=nonce, timestamp=timestamp)
    names = {"X-Prosperas-Key": "X-Axis-Provider-Key", "X-Prosperas-Timestamp": "X-Axis-Timestamp",
             "X-Prosperas-Nonce": "X-Axis-Nonce", "X-Prosperas-Signature": "X-Axis-Signature"}
    extra = {"HTTP_" + names[name].upper().replace("-", "_"): value for name, value in headers.items() if name in names}
    return Client().post(f"/sandbox/mapped/{lender.code}/solicitudes", raw, content_type="application/json", **extra)


def mapped_body(lender):
    product = lender.products.first()
    return {"referencia": str(uuid.uuid4()), "producto": product.product_id, "montoSolicitado": None,
            "cliente": {"tipoDocumento": "CC", "documento": "1020304050", "nombre": "Ana", "ingresoMensual": 3_200_000}}


def test_hmac_requests_are_verified_and_a_replayed_nonce_or_a_stale_timestamp_is_refused(db):
    lender = lender_of("mapped_json", sandbox_options={"auth": "hmac"})
    body = mapped_body(lender)
    nonce = f"nonce-{uuid.uuid4().hex}"
    first = mapped_post(lender, body, nonce=nonce)
    assert first.status_code == 200 and first.json()["data"]["estado"] == "APROBADO"
    replay = mapped_post(lender, body, nonce=nonce)
    assert replay.status_code == 401 and "nonce" in replay.json()["errores"][0]["mensaje"]
    stale = mapped_post(lender, body, timestamp="2020-01-01T00:00:00.000Z")
    assert stale.status_code == 401 and "5 minutos" in stale.json()["errores"][0]["mensaje"]


# --- many slow calls at once ----------------------------------------------------------------


def test_the_sandbox_answers_many_slow_calls_side_by_side_without_holding_database_connections(live_server, transactional_db):
    lenders = [styled_sandbox_lender(style="embedded", server_url=live_server.url) for _ in range(12)]
    for lender in lenders:
        ProductFactory(lender=lender)
        SandboxLenderSettings.objects.create(lender=lender, latency_ms=1500)
    url = f"{live_server.url}/sandbox/embedded/{{code}}/"

    def call(lender):
        return requests.get(url.format(code=lender.code), headers={"X-Api-Key": lender.credentials["api_key"]}, timeout=10)

    started = time.monotonic()
    with ThreadPoolExecutor(len(lenders)) as pool:
        futures = [pool.submit(call, lender) for lender in lenders]
        time.sleep(0.9)  # every call is now sleeping its latency
        sleeping_connections = _connections_in_use()
        answers = [future.result() for future in futures]
    assert all(answer.status_code == 200 for answer in answers)
    assert time.monotonic() - started < 1.5 * 2  # side by side, not one after the other (12 × 1.5 s)
    assert sleeping_connections <= 2, sleeping_connections  # the sleeping requests hold none


def _connections_in_use() -> int:
    """Connections of this process's pool handed out now (the live server runs in this process;
    the test's own connection among them)."""
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.mark.parametrize("style", list(ADAPTERS))
def test_a_demo_lender_of_any_style_is_pointed_at_its_sandbox(db, style):
    from apps.lenders.adapters import adapter_class
    from apps.lenders.models import MappedApi
    from apps.sandbox.styles import sandbox_lender_prepare
    from tests.factories import LenderFactory

    lender = LenderFactory(adapter=style, credentials={})
    sandbox_lender_prepare(lender=lender, site_url="http://127.0.0.1:8000/")
    lender.refresh_from_db()
    assert lender.base_url.startswith("http://127.0.0.1:8000/sandbox/") and lender.base_url.endswith(lender.code)
    assert set(adapter_class(style).credential_names) & set(lender.credentials)
    assert MappedApi.objects.filter(lender=lender).exists() == (style == "mapped_json")
