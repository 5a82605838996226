"""The product data API: signed like postbacks (with the production signing code), strict
fields, and nothing live until staff approve it."""

import json
import secrets

import pytest

from apps.campaigns.catalog import catalog_for_origin
from apps.lenders.models import PostbackAuthFailure
from apps.products.models import Product, ProductRevision
from apps.products.services import product_revision_approve
from prosperas.inbound import signing
from tests.factories import LenderFactory, ListingFactory, OriginFactory, publish

pytestmark = pytest.mark.django_db

DATA = {
    "lender_reference": "PL-STD", "name": "Crédito de libre inversión", "kind": "personal", "currency": "COP",
    "min_amount": "1000000.00", "max_amount": "30000000.00", "min_term_months": 12, "max_term_months": 60,
    "min_annual_rate": "0.1990", "max_annual_rate": "0.2890", "apr": "0.3100", "monthly_fee": "4500.00",
    "min_monthly_income": 1300000, "document_types": ["CC", "CE"], "min_age": 18, "max_age": 75,
    "disclosure": "Tasa efectiva anual fija.", "logo_url": "https://lender.example/logo.svg",
}


@pytest.fixture
def lender():
    return LenderFactory(postback_secret="s3cret-" + secrets.token_hex(16))


@pytest.fixture
def api(client):
    """A signed request: api(lender, "post", "/api/v1/products", payload)."""

    def call(lender, method: str, path: str, payload=None, *, secret: str | None = None):
        raw_body = b"" if payload is None else json.dumps(payload).encode()
        headers = signing.signed_headers(
            key=lender.postback_key, secret=secret or lender.postback_secret, raw_body=raw_body
        )
        headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()
                   if name != "Content-Type"}
        if method == "get":
            return client.get(path, **headers)
        return getattr(client, method)(path, data=raw_body, content_type="application/json", **headers)

    return call


def test_a_lender_creates_a_product_that_waits_for_review_with_a_minted_product_id(api, lender):
    response = api(lender, "post", "/api/v1/products", DATA)

    body = response.json()
    assert response.status_code == 201, body
    assert (body["product_id"], body["state"]) == ("ln_personal_01", "in_review")
    assert body["data"]["max_amount"] == "30000000.00" and body["data"]["document_types"] == ["CC", "CE"]
    assert body["pending_revision"] == ProductRevision.objects.get().pk


def test_sending_the_same_lender_reference_again_updates_the_same_product(api, lender):
    api(lender, "post", "/api/v1/products", DATA)

    response = api(lender, "post", "/api/v1/products", {**DATA, "name": "Libre inversión 2026"})

    assert response.status_code == 202
    assert Product.objects.count() == 1
    assert ProductRevision.objects.filter(state="pending").count() == 1


def test_a_change_to_a_live_product_is_not_shown_until_staff_approve_it(api, lender):
    product_id = api(lender, "post", "/api/v1/products", DATA).json()["product_id"]
    product = Product.objects.get(product_id=product_id)
    product_revision_approve(revision=product.revisions.get())
    origin = OriginFactory()
    publish(listing=ListingFactory(product=product), origin=origin)

    response = api(lender, "put", f"/api/v1/products/{product_id}", {**DATA, "max_annual_rate": "0.3500"})

    assert response.status_code == 202
    assert response.json()["data"]["max_annual_rate"] == "0.2890"  # what consumers see, still
    assert str(catalog_for_origin(origin=origin)[0].listing.product.max_annual_rate) == "0.2890"


def test_reading_products_is_signed_over_an_empty_body_and_shows_only_your_own(api, lender):
    mine = api(lender, "post", "/api/v1/products", DATA).json()["product_id"]
    other = LenderFactory()
    api(other, "post", "/api/v1/products", {**DATA, "lender_reference": "X"})

    listing = api(lender, "get", "/api/v1/products")
    one = api(lender, "get", f"/api/v1/products/{mine}")
    theirs = api(lender, "get", "/api/v1/products/ln_personal_02")

    assert [item["product_id"] for item in listing.json()] == [mine]
    assert one.status_code == 200 and one.json()["state"] == "in_review"
    assert (theirs.status_code, theirs.json()["error"]) == (404, "unknown_product_id")


def test_a_bad_signature_is_refused_like_a_postback(api, lender):
    response = api(lender, "post", "/api/v1/products", DATA, secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert not Product.objects.exists()


def test_a_replayed_request_is_refused_like_a_postback(client, lender):
    raw_body = json.dumps(DATA).encode()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()
               if name != "Content-Type"}
    first = client.post("/api/v1/products", data=raw_body, content_type="application/json", **headers)
    replayed = client.post("/api/v1/products", data=raw_body, content_type="application/json", **headers)

    assert first.status_code == 201
    assert (replayed.status_code, replayed.json()["error"]) == (401, "replayed_nonce")
    assert Product.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_amount": 1000000}, "min_amount"),  # money is a decimal string, never a JSON number
        ({"colour": "blue"}, "colour"),
        ({"kind": "spaceship"}, "kind"),
        ({"regions": ["CO-XX"]}, "regions"),
        ({"logo_url": "http://lender.example/logo.svg"}, "logo_url"),
        ({"min_term_months": 72}, "max_term_months"),  # the model's own range rule
    ],
)
def test_invalid_product_data_is_refused_naming_the_field(api, lender, change, field):
    response = api(lender, "post", "/api/v1/products", {**DATA, **change})

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_the_product_api_is_in_the_published_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {"post", "get"} <= set(schema["paths"]["/api/v1/products"])
    assert {"put", "get"} <= set(schema["paths"]["/api/v1/products/{product_id}"])


def test_a_replayed_request_is_counted_with_the_other_refusals(client, lender):
    raw_body = json.dumps(DATA).encode()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()
               if name != "Content-Type"}
    for _ in range(2):
        client.post("/api/v1/products", data=raw_body, content_type="application/json", **headers)

    assert list(PostbackAuthFailure.objects.values_list("lender", "reason")) == [(lender.pk, "replayed_nonce")]


def test_product_data_errors_speak_english_to_a_spanish_speaking_client(api, lender, client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "es-CO"
    response = api(lender, "post", "/api/v1/products", {key: value for key, value in DATA.items() if key != "name"})

    assert response.status_code == 400, response.content
    assert response.json()["fields"]["name"] == ["This field is required."]


def test_taking_another_products_lender_reference_is_a_400_in_the_lenders_words_not_the_constraints(api, lender):
    first = api(lender, "post", "/api/v1/products", {**DATA, "lender_reference": "PL-A"}).json()["product_id"]
    api(lender, "post", "/api/v1/products", {**DATA, "lender_reference": "PL-B"})

    response = api(lender, "put", f"/api/v1/products/{first}", {**DATA, "lender_reference": "PL-B"})

    assert response.status_code == 400, response.content
    assert "product_lender_reference_unique" not in response.content.decode()
    assert "Another of your products already has this lender_reference." in str(response.json()["fields"])
