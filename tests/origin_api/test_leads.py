"""POST /api/v1/leads and GET /api/v1/leads/{uuid}: a lead runs as a compare-mode journey of the
hosted flow's engine; idempotent by partnerLeadId; strict validation with stable codes; an
origin sees only its own leads."""

import datetime
import logging

import pytest

from apps.leads.models import Consent, DecisionRequest, Lead, LeadExtraData, LeadStatus
from apps.origin_api.models import Environment, OriginLead
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.origin_api.conftest import PERSONAL_VALUES, caller_for, lead_body

pytestmark = pytest.mark.django_db


def test_a_lead_is_created_and_every_eligible_lender_is_asked_at_once(caller, market):
    response = caller.post_lead(lead_body())

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"uuid", "status", "trackingId"} and body["status"] == "created"
    origin_lead = OriginLead.objects.select_related("lead").get(uuid=body["uuid"])
    lead = origin_lead.lead
    assert body["trackingId"] == lead.tracking_id and lead.tracking_id.startswith("billeteraya_")
    assert (lead.compare_mode, lead.status, lead.origin_reference) == (True, LeadStatus.AWAITING_DECISION,
                                                                       "wallet-000123")
    assert set(DecisionRequest.objects.filter(lead=lead).values_list("lender_id", flat=True)) == {
        lender.pk for lender in market[1]}
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.document_number, lead.full_name, lead.phone, lead.monthly_income) == (
        "1020304050", "Ana María Pérez", "+573001234567", 3_500_000)
    assert (lead.requested_amount, lead.requested_term_months, lead.birth_date, lead.region) == (
        3_000_000, 24, "1990-05-17", "CO-DC")
    assert LeadExtraData.objects.get(lead=lead).values["employment_status"] == "employed"
    assert origin_lead.loan_purpose == "debt_consolidation"


def test_the_consent_attestation_is_stored_as_the_hosted_flow_stores_consents(caller):
    uuid = caller.post_lead(lead_body()).json()["uuid"]

    consents = Consent.objects.filter(lead__origin_api_lead__uuid=uuid)
    accepted = datetime.datetime(2026, 12, 1, 15, 15, tzinfo=datetime.UTC)
    assert {(c.kind, c.text_version, c.accepted_at, c.ip_address) for c in consents} == {
        (kind, "2026-11-01", accepted, "190.24.10.8") for kind in ("terms", "privacy", "data_processing")}


def test_the_same_request_again_answers_200_with_the_same_lead(caller):
    first = caller.post_lead(lead_body())
    body = lead_body()
    reordered = {name: body[name] for name in reversed(list(body))}  # key order does not matter
    again = caller.post_lead(reordered)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["uuid"] == first.json()["uuid"]
    assert again.json()["trackingId"] == first.json()["trackingId"]
    assert again.json()["status"] == "in_progress"  # its current status
    assert Lead.objects.count() == OriginLead.objects.count() == 1


def test_a_different_body_under_a_used_partner_lead_id_is_a_409(caller):
    caller.post_lead(lead_body())

    response = caller.post_lead(lead_body(loan={"amount": 4_000_000}))

    assert response.status_code == 409
    assert response.json()["error"] == "partner_lead_id_conflict"
    assert Lead.objects.count() == 1


def test_partner_lead_ids_are_per_origin_and_environment(caller, market):
    other_origin = caller_for(OriginFactory(code="movilco"))
    production = caller_for(market[0], environment=Environment.PRODUCTION)

    responses = [who.post_lead(lead_body()) for who in (caller, other_origin, production)]

    assert [response.status_code for response in responses] == [201, 201, 201]
    assert len({response.json()["uuid"] for response in responses}) == 3


def _fields(response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error"
    return {path: [problem["code"] for problem in problems] for path, problems in body["fields"].items()}


def test_validation_errors_name_each_field_by_path_with_a_stable_code(caller):
    body = lead_body(
        borrower={"documentNumber": "12AB", "phone": "12345", "monthlyIncome": "3500000", "birthDate": "2015-01-01",
                  "colour": "blue"},
        loan={"termMonths": 0, "purpose": "holiday"},
        consent={"textVersion": "2020-01-01", "kinds": ["terms"]},
    )
    body["referrer"] = "x"

    fields = _fields(caller.post_lead(body))

    assert fields == {
        "borrower.documentNumber": ["invalid_document"],
        "borrower.phone": ["invalid_mobile"],
        "borrower.monthlyIncome": ["not_an_integer"],
        "borrower.birthDate": ["under_age"],
        "borrower.colour": ["unknown_field"],
        "loan.termMonths": ["min_value"],
        "loan.purpose": ["invalid_choice"],
        "consent.textVersion": ["unknown_version"],
        "consent.kinds": ["incomplete"],
        "referrer": ["unknown_field"],
    }
    assert Lead.objects.count() == 0


def test_missing_sections_and_a_consent_before_its_text_was_published_are_named(caller):
    body = lead_body(consent={"acceptedAt": "2026-10-31T23:00:00-05:00"})
    del body["loan"]

    assert _fields(caller.post_lead(body)) == {"loan": ["required"], "consent.acceptedAt": ["before_publication"]}


def test_errors_are_in_english_whatever_the_request_language(caller):
    body = lead_body()
    del body["borrower"]["fullName"]

    response = caller.post_lead(body, HTTP_ACCEPT_LANGUAGE="es-CO")

    assert response.json()["fields"] == {"borrower.fullName": [{"code": "required",
                                                               "message": "This field is required."}]}


def test_a_body_that_is_not_json_is_refused_with_its_code(caller):
    response = caller.http.post("/api/v1/leads", "{not json", content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {caller.token}")
    form = caller.http.post("/api/v1/leads", {"a": "b"}, HTTP_AUTHORIZATION=f"Bearer {caller.token}")

    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")


def test_no_token_an_unknown_token_and_a_token_without_the_leads_scope_are_refused(caller, market):
    missing = caller.http.post("/api/v1/leads", lead_body(), content_type="application/json")
    unknown = caller.http.get("/api/v1/leads/x", HTTP_AUTHORIZATION="Bearer not-a-token")
    events_only = caller_for(market[0], scope="events").post_lead(lead_body())

    assert (missing.status_code, missing.json()["error"]) == (401, "not_authenticated")
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_token")
    assert (events_only.status_code, events_only.json()["error"]) == (403, "insufficient_scope")
    assert Lead.objects.count() == 0


def test_an_origin_sees_only_its_own_leads(caller, market):
    uuid = caller.post_lead(lead_body()).json()["uuid"]
    other_origin = caller_for(OriginFactory(code="movilco"))
    other_environment = caller_for(market[0], environment=Environment.PRODUCTION)

    assert caller.get_lead(uuid).status_code == 200
    for stranger in (other_origin, other_environment):
        response = stranger.get_lead(uuid)
        assert (response.status_code, response.json()["error"]) == (404, "lead_not_found")
    assert caller.get_lead("not-a-uuid").status_code == 404


def test_only_lenders_of_the_clients_environment_whose_declared_fields_were_sent_are_asked(caller, market):
    origin, (alfa, beta) = market
    production = LenderFactory(code="prod", environment="production")
    needs_birth_date = LenderFactory(code="offers", adapter="offers_api")  # declares birth_date, region...
    for lender in (production, needs_birth_date):
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
    body = lead_body()
    del body["borrower"]["birthDate"]

    uuid = caller.post_lead(body).json()["uuid"]

    asked = set(DecisionRequest.objects.filter(lead__origin_api_lead__uuid=uuid).values_list("lender__code", flat=True))
    assert asked == {"alfa", "beta"}


def test_no_personal_data_in_urls_or_logs(caller, caplog):
    caplog.set_level(logging.DEBUG)
    created = caller.post_lead(lead_body())
    uuid = created.json()["uuid"]
    polled = caller.get_lead(uuid)

    assert polled.status_code == 200 and "Location" not in created
    urls = " ".join(record.getMessage() for record in caplog.records if "/api/v1/" in record.getMessage())
    for value in PERSONAL_VALUES:
        assert value not in caplog.text, f"{value!r} logged"
        assert value not in f"/api/v1/leads/{uuid}" + urls
