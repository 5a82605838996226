"""The asynchronous lead adapter (seed 002) and our callback endpoint, against the sandbox lender
over real HTTP: 201 created, then the lender's callback on our unguessable URL (or a poll)."""

import json
import uuid
from datetime import timedelta

import pytest
import requests

from apps.leads.engine.attempt import lender_poll_attempt, lender_prequalify_attempt
from apps.leads.models import Decision, Lead, LeadStatus, OfferTerms
from apps.leads.selectors import decision_notice_html, offer_amount_group
from apps.lenders.config import adapter_for
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import lead_awaiting_decision, lead_with_journey_data
from tests.support import wait_until


@pytest.fixture
def lender_api(sandbox_of, live_server, settings):
    settings.SITE_URL = live_server.url  # the callback URL the sandbox lender calls is ours, on the live server
    return sandbox_of("async_lead")


def status(lead):
    return Lead.objects.get(pk=lead.pk).status


def prequalify(lead):
    return lender_prequalify_attempt(lead_id=lead.pk, lender_id=lead.lender_id)


def poll_until_settled(lead):
    def settled():
        outcome = lender_poll_attempt(lead_id=lead.pk, lender_id=lead.lender_id)
        return outcome if outcome.action != "retry" else None

    return wait_until(settled, timeout=10, interval=0.1)


def test_the_lead_is_created_pending_and_the_lenders_callback_resolves_it(lender_api):
    lender_api.script("", pending_seconds=0.2, callback_delay_seconds=0)
    lead = lead_with_journey_data(lender=lender_api.lender)
    outcome = prequalify(lead)
    assert (outcome.action, outcome.detail) == ("recorded", "pending")
    decision = Decision.objects.get(lead=lead)
    uuid.UUID(decision.lender_reference)  # the lender's lead uuid, to poll and to match callbacks
    wait_until(lambda: status(lead) == LeadStatus.OFFERED)
    [callback] = LenderCall.objects.filter(lead=lead, capability="callback")
    assert (callback.outcome, callback.http_status) == ("approved", 204)
    assert not LenderCall.objects.filter(lead=lead, capability="poll").exists()
    groups = set(OfferTerms.objects.filter(offer__decision__lead=lead).values_list("amount_group", flat=True))
    assert "requested" in groups


def test_offers_are_grouped_by_the_amount_range_they_fall_in(lender_api):
    lender_api.script("", pending_seconds=0)
    lead = lead_with_journey_data(lender=lender_api.lender, monthly_income=1_500_000, requested_amount=15_000_000)
    prequalify(lead)
    assert poll_until_settled(lead).detail == "approved"
    offers = list(Decision.objects.get(lead=lead).offers.all())
    assert offers and all(offer_amount_group(offer, lead.requested_amount) == "lower" for offer in offers)
    assert all(offer.terms.apr > offer.annual_rate for offer in offers)


def test_no_offers_keeps_the_adverse_action_notice_sanitized(lender_api):
    lender_api.script("", pending_seconds=0)
    lead = lead_with_journey_data(lender=lender_api.lender, monthly_income=900_000)
    prequalify(lead)
    assert poll_until_settled(lead).detail == "rejected"
    assert status(lead) == LeadStatus.NOT_ELIGIBLE
    decision = Decision.objects.get(lead=lead)
    notice = str(decision_notice_html(decision))
    assert "Notice of Action Taken" in notice and 'rel="noopener noreferrer"' in notice
    assert "<script" not in notice and "onclick" not in notice and "cookie" not in notice


def test_the_lenders_own_timed_out_status_fails_the_journey_for_try_again(lender_api):
    lender_api.script("", pending_seconds=0)
    lead = lead_with_journey_data(lender=lender_api.lender, monthly_income=2_500_777)
    prequalify(lead)
    assert poll_until_settled(lead).action == "failed"
    assert status(lead) == LeadStatus.DECISION_FAILED
    assert "timed_out" in LenderCall.objects.filter(lead=lead, capability="poll").last().error


def test_no_final_answer_within_the_lenders_pending_timeout_gives_up(lender_api):
    lender_api.script("", pending_seconds=3600)
    lead = lead_with_journey_data(lender=lender_api.lender)
    prequalify(lead)
    assert lender_poll_attempt(lead_id=lead.pk, lender_id=lead.lender_id).action == "retry"  # still pending
    waited = lender_api.lender.pending_timeout_seconds + 1
    Decision.objects.filter(lead=lead).update(created_at=Decision.objects.get(lead=lead).created_at - timedelta(seconds=waited))
    outcome = lender_poll_attempt(lead_id=lead.pk, lender_id=lead.lender_id)
    assert (outcome.action, outcome.detail) == ("failed", "timed out")
    assert status(lead) == LeadStatus.DECISION_FAILED


def test_following_a_products_url_marks_it_selected_and_keeps_the_decision(lender_api):
    lender_api.script("", pending_seconds=0)
    lead = lead_with_journey_data(lender=lender_api.lender)
    prequalify(lead)
    poll_until_settled(lead)
    offer = Decision.objects.get(lead=lead).offers.first()
    answer = requests.get(offer.url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302 and "/sandbox/portal/" in answer.headers["Location"]
    adapter = adapter_for(lender_api.lender)
    polled = adapter.poll(lead.tracking_id, lender_reference=Decision.objects.get(lead=lead).lender_reference)
    assert polled.raw_response["status"] == "product_selected" and polled.decision == "approved"
    assert Decision.objects.get(lead=lead).outcome == "approved"


def test_one_token_serves_many_calls(lender_api):
    lender_api.script("", pending_seconds=3600)
    for _ in range(3):
        prequalify(lead_with_journey_data(lender=lender_api.lender))
    assert SandboxLenderSettings.objects.get(lender=lender_api.lender).tokens_issued == 1


# --- the callback endpoint ------------------------------------------------------------------


def callback(live_server, token, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{live_server.url}/api/v1/lenders/callbacks/{token}", data=raw,
                         headers={"Content-Type": "application/json"}, timeout=5)


def test_an_unknown_callback_token_is_a_404_with_no_body(lender_api, live_server):
    answer = callback(live_server, "not-a-token", {"uuid": "x", "status": "offers_found"})
    assert answer.status_code == 404 and answer.content == b""


def test_a_callback_body_that_cannot_be_read_is_refused_so_the_lender_sends_it_again(lender_api, live_server):
    assert callback(live_server, lender_api.lender.callback_token, b"{not json").status_code == 400


def test_a_callback_for_a_journey_not_known_yet_is_refused_so_the_lender_retries(lender_api, live_server):
    body = {"uuid": str(uuid.uuid4()), "partnerLeadId": "unknown", "status": "no_offers"}
    assert callback(live_server, lender_api.lender.callback_token, body).status_code == 404


def test_a_repeated_callback_is_answered_204_and_stores_nothing_twice(lender_api, live_server):
    lender_api.script("", pending_seconds=3600)
    lead = lead_with_journey_data(lender=lender_api.lender)
    prequalify(lead)
    reference = Decision.objects.get(lead=lead).lender_reference
    body = {"uuid": reference, "partnerLeadId": lead.tracking_id, "status": "no_offers", "adverseActionNotice": "<p>No</p>"}
    assert callback(live_server, lender_api.lender.callback_token, body).status_code == 204
    assert callback(live_server, lender_api.lender.callback_token, body).status_code == 204
    assert Decision.objects.filter(lead=lead).count() == 1 and status(lead) == LeadStatus.NOT_ELIGIBLE
    assert LenderCall.objects.filter(lead=lead, capability="callback").count() == 2


def test_the_embedded_lender_calls_back_too(sandbox_of, live_server, settings):
    settings.SITE_URL = live_server.url
    sandbox = sandbox_of("embedded")
    sandbox.script("", pending_then_resolve=True, pending_seconds=0.1, callback_delay_seconds=0)
    lead = lead_awaiting_decision(lender=sandbox.lender)
    assert prequalify(lead).detail == "pending"
    wait_until(lambda: status(lead) == LeadStatus.OFFERED)
    assert LenderCall.objects.filter(lead=lead, capability="callback", outcome="approved").exists()
