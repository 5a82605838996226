"""The origins' guide page and the OpenAPI schema describe the API as the code enforces it."""

import pytest

from apps.origin_api.docs import field_rules
from apps.origin_api.serializers import LeadInputSerializer
from apps.origin_api.statuses import ApiStatus

pytestmark = pytest.mark.django_db


def test_the_guide_shows_every_field_rule_and_every_status(client):
    page = client.get("/docs/origins/").content.decode()

    assert "http://testserver/api/v1/oauth2/token" in page and "http://testserver/api/v1/leads" in page
    for path, _rule in field_rules(LeadInputSerializer()):
        assert f"<code>{path}</code>" in page
    for status in ApiStatus:
        assert f"<code>{status.value}</code>" in page
    assert "borrower.documentNumber" in page and "consent.textVersion" in page


def test_the_schema_describes_the_token_the_leads_and_the_poll_with_examples(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    token = schema["paths"]["/api/v1/oauth2/token"]["post"]
    create = schema["paths"]["/api/v1/leads"]["post"]
    poll = schema["paths"]["/api/v1/leads/{lead_uuid}"]["get"]
    assert "examples" in create["requestBody"]["content"]["application/json"]
    assert set(create["responses"]) >= {"200", "201", "400", "401", "403", "409"}
    assert "examples" in create["responses"]["400"]["content"]["application/json"]
    assert set(poll["responses"]) >= {"200", "401", "404"}
    assert len(poll["responses"]["200"]["content"]["application/json"]["examples"]) == 2
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    scheme = schema["components"]["securitySchemes"]["originOAuth2"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/api/v1/oauth2/token"
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"leads", "events"}
    assert create["security"] == [{"originOAuth2": ["leads"]}]


def test_the_guide_shows_how_to_verify_callbacks_in_python_and_node_and_how_to_page_the_feed(client):
    page = client.get("/docs/origins/").content.decode()

    assert "from standardwebhooks.webhooks import Webhook" in page and 'from "standardwebhooks"' in page
    assert "webhook-id" in page and "webhook-signature" in page and "whsec_" in page
    assert "http://testserver/api/v1/events" in page and "nextCursor" in page and "offerUrl" in page


def test_the_guide_and_the_schema_say_an_offer_url_may_ask_for_a_field_the_lead_did_not_carry(client):
    page = client.get("/docs/origins/").content.decode()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert 'id="offer-details"' in page and "asking only for the fields that lender needs" in page
    assert "a short page of ours" in str(schema["components"]["schemas"])


def test_the_schema_describes_the_feed_with_its_scope_and_an_example(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    events = schema["paths"]["/api/v1/events"]["get"]
    assert events["security"] == [{"originOAuth2": ["events"]}]
    assert {parameter["name"] for parameter in events["parameters"]} == {"cursor", "limit"}
    assert set(events["responses"]) >= {"200", "400", "401", "403"}
    assert "examples" in events["responses"]["200"]["content"]["application/json"]
    offer = schema["components"]["schemas"]["Offer"]["properties"]
    assert "offerUrl" in offer
