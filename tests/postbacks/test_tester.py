"""POST /api/v1/postbacks/test: the endpoint's checks, its answers, and nothing recorded."""

import os
import subprocess
import sys

import pytest

from apps.leads.models import LeadNotification, LeadStatus
from apps.lenders.models import Lender, PostbackAuthFailure, PostbackNonce
from apps.postbacks import contract, docs
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import PostbackData, postback_ingest
from tests.factories import LeadFactory, LenderFactory
from tests.postbacks.conftest import URL, body_bytes, signed

TESTER_URL = contract.TESTER_PATH


@pytest.fixture
def post_test(client):
    def post(lender, payload, *, secret=None, nonce=None, url=TESTER_URL, content_type="application/json"):
        raw_body = body_bytes(payload)
        headers = signed(lender, raw_body, secret=secret, nonce=nonce)
        return client.post(url, data=raw_body, content_type=content_type, headers=headers)

    return post


def nothing_recorded():
    return not PostbackEvent.objects.exists() and not PostbackAuthFailure.objects.exists()


def test_a_good_postback_gets_what_the_endpoint_would_answer_and_nothing_moves(lender, post_test):
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF, email="ana@example.com")

    response = post_test(lender, {"click_id": lead.tracking_id, "status": "approved"})

    assert response.status_code == 202
    body = response.json()
    assert body | {"message": None} == {
        "test": True, "event": None, "status": "accepted", "lead_status": "approved", "repeat": False,
        "effect": "applied", "message": None,
    }
    assert "from handed_off to approved" in body["message"]
    lead.refresh_from_db()
    assert (lead.status, lead.needs_review, lead.lender_status_at) == (LeadStatus.HANDED_OFF, False, None)
    assert nothing_recorded()
    assert not lead.events.exists() and not LeadNotification.objects.exists()


def test_the_tester_applies_the_transition_table_and_the_repeat_rule(lender, lead, post_test):
    postback_ingest(lender=lender, data=PostbackData(click_id=lead.tracking_id, status="rejected"),
                    raw_body=b"{}", headers={}, source_ip=None)

    again = post_test(lender, {"click_id": lead.tracking_id, "status": "rejected"}).json()
    contradicting = post_test(lender, {"click_id": lead.tracking_id, "status": "approved"}).json()

    assert (again["effect"], again["repeat"], again["lead_status"]) == ("no_change", True, "rejected")
    assert (contradicting["effect"], contradicting["repeat"]) == ("contradicts", False)
    assert "flag the event for review" in contradicting["message"]
    assert PostbackEvent.objects.count() == 1
    lead.refresh_from_db()
    assert lead.needs_review is False


def test_an_unknown_click_id_answers_404_with_the_hint_and_records_nothing(lender, post_test):
    lead = LeadFactory(listing__product__lender=lender)

    response = post_test(lender, {"click_id": lead.tracking_id.upper(), "status": "approved"})

    assert response.status_code == 404
    body = response.json()
    assert (body["test"], body["error"], body["event"], body["looks_like"]) == (
        True, "unknown_click_id", None, ["letter_case"])
    assert nothing_recorded()


@pytest.mark.parametrize(("change", "reason"), [({"secret": "wrong-secret"}, "bad_signature"),
                                                ({"nonce": "short"}, "bad_nonce")])
def test_a_bad_request_is_refused_like_the_endpoint_and_not_counted(lender, lead, post_test, change, reason):
    response = post_test(lender, {"click_id": lead.tracking_id, "status": "approved"}, **change)
    assert response.status_code == 401
    assert response.json() | {"message": None} == {"test": True, "error": reason, "message": None}
    assert response["WWW-Authenticate"]
    assert nothing_recorded()


def test_validation_errors_are_the_endpoints(lender, lead, post_test):
    response = post_test(lender, {"click_id": lead.tracking_id, "status": "approve", "colour": "red"})
    assert response.status_code == 400
    assert response.json()["test"] is True
    assert set(response.json()["fields"]) == {"status", "colour"}


def test_a_non_json_body_is_refused_with_415(lender, lead, post_test):
    response = post_test(lender, {"click_id": lead.tracking_id, "status": "approved"}, content_type="text/plain")
    assert (response.status_code, response.json()["error"], response.json()["test"]) == (
        415, "unsupported_media_type", True)


def test_production_credentials_are_refused(post_test, db):
    production = LenderFactory(environment=Lender.Environment.PRODUCTION)
    lead = LeadFactory(listing__product__lender=production)

    response = post_test(production, {"click_id": lead.tracking_id, "status": "approved"})

    assert response.status_code == 401
    assert response.json()["error"] == "not_a_staging_key"
    assert nothing_recorded() and not PostbackNonce.objects.exists()


def test_a_request_tried_on_the_tester_can_still_be_sent_to_the_endpoint(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)

    tried = client.post(TESTER_URL, data=raw_body, content_type="application/json", headers=headers)
    tried_again = client.post(TESTER_URL, data=raw_body, content_type="application/json", headers=headers)
    sent = client.post(URL, data=raw_body, content_type="application/json", headers=headers)
    replayed = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert (tried.status_code, tried_again.json()["error"]) == (202, "replayed_nonce")
    assert (sent.status_code, replayed.json()["error"]) == (202, "replayed_nonce")
    assert PostbackEvent.objects.count() == 1


def test_a_nonce_spent_on_the_endpoint_can_be_tried_on_the_tester(lender, lead, post_postback, post_test):
    payload = {"click_id": lead.tracking_id, "status": "approved"}
    assert post_postback(lender, payload, nonce="nonce-shared-1").status_code == 202
    assert post_test(lender, payload, nonce="nonce-shared-1").status_code == 202


def test_an_api_key_lender_can_use_the_tester(client, db):
    api_key = "ak_test_" + "y" * 40
    lender = LenderFactory(postback_auth=Lender.PostbackAuth.API_KEY, postback_secret=api_key,
                           postback_api_key_digest=Lender.api_key_digest(api_key))
    lead = LeadFactory(listing__product__lender=lender)
    response = client.post(TESTER_URL, data=body_bytes({"click_id": lead.tracking_id, "status": "disbursed"}),
                           content_type="application/json", headers={"Authorization": f"Bearer {api_key}"})
    assert (response.status_code, response.json()["effect"]) == (202, "applied")


@pytest.mark.parametrize("filename", ["send_postback.py", "send_postback.sh"])
def test_the_published_examples_reach_the_tester_with_prosperas_path(live_server, filename):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    env = {**os.environ, "PROSPERAS_URL": live_server.url, "PROSPERAS_KEY": lender.postback_key,
           "PROSPERAS_SECRET": lender.postback_secret, "PROSPERAS_PATH": TESTER_URL}
    command = [sys.executable] if filename.endswith(".py") else ["sh"]

    result = subprocess.run([*command, str(docs.EXAMPLES_DIR / filename), lead.tracking_id, "approved"],
                            env=env, capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, result.stderr
    assert "202" in result.stdout and '"test":true' in result.stdout.replace(" ", "")
    assert not PostbackEvent.objects.exists()

