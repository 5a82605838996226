"""The mapped JSON adapter: a lender described in admin, no code. Its description is validated
on save; it reaches the mapped sandbox lender (a Spanish-named API) with each kind of auth; and
staff can dry-run it from the admin."""

import json

import pytest

from apps.leads import services as lead_services
from apps.leads.engine.attempt import lender_prequalify_attempt, lender_submit_attempt
from apps.leads.models import Decision, Lead, LeadStatus
from apps.lenders.adapters.mapped_spec import mapped_spec_errors, render, resolve
from apps.lenders.adapters.parsing import Unparseable
from apps.lenders.models import LenderCall, MappedApi
from apps.sandbox.mapped_json import SANDBOX_MAPPED_API
from tests.factories import LenderFactory, lead_awaiting_decision

# --- the description, validated ---------------------------------------------------------------


def test_the_sandbox_description_is_valid():
    assert mapped_spec_errors(SANDBOX_MAPPED_API) == {}


@pytest.mark.parametrize("change, field, words", [
    ({"prequalify_template": "{not json"}, "prequalify_template", "Not valid JSON"),
    ({"prequalify_template": '{"x": "{{consumer.salary}}"}'}, "prequalify_template", "Unknown placeholder"),
    ({"decision_path": "data..estado"}, "decision_path", "dotted path"),
    ({"rejected_values": "APROBADO"}, "rejected_values", "also listed"),
    ({"poll_path": ""}, "poll_path", "needs a poll path"),
    ({"poll_path": "x/{{consumer.email}}"}, "poll_path", "can go in a path"),
    ({"submit_redirect_path": ""}, "submit_path", "needs a template"),
    ({"offer_rate_path": ""}, "offers_path", "Offers need"),
    ({"reason_categories": "R01 = poverty"}, "reason_categories", "write CODE"),
    ({"approved_values": ""}, "approved_values", "Required"),
])
def test_a_wrong_description_names_the_field_and_the_mistake(change, field, words):
    errors = mapped_spec_errors({**SANDBOX_MAPPED_API, **change})
    assert any(words in message for message in errors.get(field, [])), errors


def test_templates_keep_types_for_whole_placeholders_and_interpolate_inside_text():
    body = render({"a": "{{consumer.monthly_income}}", "b": "ref-{{tracking_id}}", "c": ["{{requested_amount}}"]},
                  {"consumer.monthly_income": 3200000, "tracking_id": "t-1", "requested_amount": None})
    assert body == {"a": 3200000, "b": "ref-t-1", "c": [None]}


def test_paths_read_keys_and_list_positions_and_say_what_is_missing():
    data = {"data": {"ofertas": [{"id": "OF-1"}]}}
    assert resolve(data, "data.ofertas.0.id") == "OF-1"
    assert resolve(data, "data.nada", "x") == "x"
    with pytest.raises(Unparseable):
        resolve(data, "data.ofertas.3.id")


# --- against the mapped sandbox -------------------------------------------------------------


@pytest.mark.parametrize("auth", ["none", "api_key_header", "bearer", "hmac"])
def test_each_kind_of_auth_reaches_the_lender_and_maps_its_answer(sandbox_of, auth):
    sandbox = sandbox_of("mapped_json", sandbox_options={"auth": auth})
    lead = lead_awaiting_decision(lender=sandbox.lender)
    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=sandbox.lender.pk)
    assert (outcome.action, outcome.detail) == ("recorded", "approved")
    decision = Decision.objects.get(lead=lead)
    assert decision.lender_reference.startswith("RAD-") and decision.offers.count() >= 2
    [call] = LenderCall.objects.filter(lead=lead)
    assert '"referencia":"' + lead.tracking_id in call.request_body
    assert '"ingresoMensual":"•••••00"' in call.request_body


def test_a_wrong_hmac_secret_is_refused_as_a_permanent_auth_failure(sandbox_of):
    sandbox = sandbox_of("mapped_json", sandbox_options={"auth": "hmac"})
    misconfigured = LenderFactory(adapter="mapped_json", base_url=sandbox.lender.base_url,
                                  credentials={**sandbox.lender.credentials, "hmac_secret": "wrong"})
    MappedApi.objects.create(lender=misconfigured, auth="hmac", **SANDBOX_MAPPED_API)
    lead = lead_awaiting_decision(lender=misconfigured)
    assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=misconfigured.pk).action == "failed"
    [call] = LenderCall.objects.filter(lead=lead)
    assert call.http_status == 401 and "firma" in call.response_body


def test_a_mapped_lender_with_a_submission_call_submits_and_hands_off(sandbox_of):
    sandbox = sandbox_of("mapped_json")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=sandbox.lender.pk)
    lead = Lead.objects.get(pk=lead.pk)
    lead_services.journey_offer_choose(lead=lead, offer_id=Decision.objects.get(lead=lead).offers.first().pk)
    lead_services.journey_details_submit(lead=lead, email="ana.perez@example.com", phone="+573001234567")
    outcome = lender_submit_attempt(lead_id=lead.pk)
    assert (outcome.action, outcome.detail) == ("recorded", "submitted")
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.status == LeadStatus.SUBMITTED and lead.redirect_url.endswith(f"?ref={lead.lender_reference}")


# --- admin ----------------------------------------------------------------------------------


def test_the_admin_refuses_to_save_a_wrong_description(admin_client, sandbox_of):
    from tests.lenders.test_admin import form_data

    sandbox = sandbox_of("mapped_json")
    mapped = MappedApi.objects.get(lender=sandbox.lender)
    data = form_data(sandbox.lender, **{
        "credential__client_id": "", "credential__client_secret": "", "credential__partner_source_code": "",
        "credential__hmac_key": "", "credential__hmac_secret": "",
        "mapped_api-TOTAL_FORMS": "1", "mapped_api-INITIAL_FORMS": "1", "mapped_api-MIN_NUM_FORMS": "0",
        "mapped_api-MAX_NUM_FORMS": "1", "mapped_api-0-id": str(mapped.pk), "mapped_api-0-lender": str(sandbox.lender.pk),
        **{f"mapped_api-0-{name}": value for name, value in SANDBOX_MAPPED_API.items()},
        "mapped_api-0-auth": "api_key_header", "mapped_api-0-api_key_header": "X-Api-Key",
        "mapped_api-0-hmac_header_prefix": "X-Axis-", "mapped_api-0-unwrap_data": "on",
        "mapped_api-0-prequalify_template": '{"referencia": "{{consumer.salary}}"}',
    })
    response = admin_client.post(f"/admin/lenders/lender/{sandbox.lender.pk}/change/", data)
    assert response.status_code == 200
    assert "Unknown placeholder {{consumer.salary}}" in response.content.decode()
    mapped.refresh_from_db()
    assert "salary" not in mapped.prequalify_template


def test_a_dry_run_shows_the_request_sent_and_the_answer_parsed(admin_client, sandbox_of):
    sandbox = sandbox_of("mapped_json", sandbox_options={"auth": "hmac"})
    page = admin_client.get(f"/admin/lenders/lender/{sandbox.lender.pk}/dry-run/")
    assert page.status_code == 200 and b"Run the dry run" in page.content
    html = admin_client.post(f"/admin/lenders/lender/{sandbox.lender.pk}/dry-run/").content.decode()
    assert 'id="dry-run-decision">approved<' in html
    assert "solicitudes" in html and "&quot;referencia&quot;: &quot;dryrun_" in html and "APROBADO" in html
    assert "X-Axis-Signature" in html and sandbox.lender.credentials["hmac_secret"] not in html
    assert not LenderCall.objects.exists()  # nothing stored


def test_a_dry_run_is_refused_for_a_production_lender(admin_client, sandbox_of):
    sandbox = sandbox_of("mapped_json", environment="production")
    html = admin_client.post(f"/admin/lenders/lender/{sandbox.lender.pk}/dry-run/").content.decode()
    assert "staging lenders only" in html and json.dumps("APROBADO") not in html
