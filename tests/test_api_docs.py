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
