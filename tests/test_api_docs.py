import re

import pytest


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Prosperas platform API"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_use_our_own_static_assets_not_a_cdn(client, path):
    body = client.get(path).content.decode()

    assert "drf_spectacular_sidecar" in body
    assert "cdn.jsdelivr.net" not in body


@pytest.mark.django_db
def test_the_published_schema_states_the_rules_the_endpoints_enforce(client):
    schemas = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"]["schemas"]
    postback = schemas["PostbackInput"]

    assert postback["additionalProperties"] is False
    assert postback["dependentRequired"] == {"amount": ["currency"]}
    amount = postback["properties"]["amount"]["pattern"]
    assert re.fullmatch(amount, "999999999999.99") and not re.fullmatch(amount, "1000000000000")
    assert not re.fullmatch(amount, "0.00") and not re.fullmatch(amount, "1.234")
    assert re.fullmatch(postback["properties"]["click_id"]["pattern"], "a\x00b") is None
    assert schemas["ProductData"]["additionalProperties"] is False
    # A product Prosperas set up for the lender in admin may have no lender_reference.
    assert "minLength" not in schemas["ProductDataOutput"]["properties"]["lender_reference"]
    assert schemas["ProductData"]["properties"]["lender_reference"]["minLength"] == 1
