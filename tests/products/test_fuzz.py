"""Property-based test of the product data API: whatever a correctly signed lender sends (extreme
numbers, decimal strings, Unicode, nesting), the answer is a deliberate 2xx or 4xx, never a 5xx,
and whatever was accepted can be shown: by the API itself and by the product's and the
revision's admin pages."""

import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.products.models import Product, ProductRevision
from prosperas.inbound import signing
from tests.factories import LenderFactory

pytestmark = pytest.mark.django_db

FUZZ_SETTINGS = settings(
    max_examples=80, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DATA = {
    "lender_reference": "PL-STD", "name": "Crédito de libre inversión", "kind": "personal", "currency": "COP",
    "min_amount": "1000000.00", "max_amount": "30000000.00", "min_term_months": 12, "max_term_months": 60,
    "min_annual_rate": "0.1990", "max_annual_rate": "0.2890", "apr": "0.3100", "monthly_fee": "4500.00",
    "min_monthly_income": 1300000, "document_types": ["CC", "CE"], "min_age": 18, "max_age": 75,
    "disclosure": "Tasa efectiva anual fija.", "logo_url": "https://lender.example/logo.svg",
}

tricky_text = (st.text(alphabet=st.sampled_from("a7_-.%\x00\ud800\udfffé€\u00a0\u200b\ufeff \t\n"), max_size=8)
               | st.text(max_size=40) | st.sampled_from(["", " ", "é" * 130, "x" * 10_001, "ÿ" * 5000]))
extreme_numbers = st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 10**4000, 1e308, -0.0, 1.5,
                                   True, None])
decimal_strings = st.sampled_from(["0", "-1", "1e400", "1E+30", "NaN", "-Infinity", "Infinity", "sNaN", "0.00001",
                                   "999999999999.99", "9999999999999999.99", "1" * 200, " 1", "1,5", "٣", "１",
                                   "0x10", "1_000", "-0.00", "100.0000", "99.99999"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text | extreme_numbers,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=8,
)
field_values = decimal_strings | extreme_numbers | tricky_text | json_values
changes = st.dictionaries(st.sampled_from(sorted(DATA)) | tricky_text, field_values, max_size=4)


@pytest.fixture
def lender():
    return LenderFactory()


def send(client, lender, method: str, path: str, raw_body: bytes):
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    return client.generic(method, path, data=raw_body, content_type=headers.pop("Content-Type"), headers=headers)


def assert_shown_everywhere(client, admin_client, lender, product_id: str) -> None:
    product = Product.objects.get(product_id=product_id)
    assert send(client, lender, "GET", "/api/v1/products", b"").status_code == 200
    assert send(client, lender, "GET", f"/api/v1/products/{product_id}", b"").status_code == 200
    assert admin_client.get(reverse("admin:products_product_change", args=[product.pk])).status_code == 200
    assert admin_client.get(reverse("admin:products_product_changelist")).status_code == 200
    for revision in ProductRevision.objects.filter(product=product):
        assert admin_client.get(reverse("admin:products_productrevision_change", args=[revision.pk])).status_code == 200


@FUZZ_SETTINGS
@given(change=changes, drop=st.sets(st.sampled_from(sorted(DATA)), max_size=2), update=st.booleans(),
       ensure_ascii=st.booleans())
def test_signed_product_data_never_causes_a_server_error_and_what_is_kept_can_be_shown(
        client, admin_client, lender, change, drop, update, ensure_ascii):
    data = {name: value for name, value in {**DATA, **change}.items() if name not in drop}
    try:
        raw_body = json.dumps(data, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    except ValueError:  # 10**4000 has too many digits for Python to write: a lender could send it
        raw_body = json.dumps({**data, **{k: 0 for k, v in data.items() if isinstance(v, int) and v > 10**300}}
                              ).encode().replace(b'": 0', b'": ' + b"9" * 4400, 1)
    path = "/api/v1/products"
    if update:
        existing = send(client, lender, "POST", path, json.dumps(DATA).encode()).json()["product_id"]
        path = f"{path}/{existing}"
    response = send(client, lender, "PUT" if update else "POST", path, raw_body)

    assert response.status_code < 500, response.content
    body = response.json()
    if response.status_code in (201, 202):
        assert_shown_everywhere(client, admin_client, lender, body["product_id"])
    else:
        assert response.status_code in (400, 404, 413) and isinstance(body["error"], str), body


@pytest.mark.parametrize(("name", "value"), [
    ("min_monthly_income", 10**30), ("min_monthly_income", 2**63), ("min_monthly_income", -1),
    ("min_monthly_income", 10**10 + 1), ("max_amount", "1e400"), ("max_amount", "NaN"), ("max_amount", "Infinity"),
    ("min_amount", "9999999999999999.99"), ("apr", "100.0000"), ("max_term_months", 601), ("max_term_months", 2**70),
    ("min_age", 2**40), ("name", "a\x00b"), ("disclosure", "a\x00b"), ("lender_reference", "x\x00"),
])
def test_a_value_outside_the_inbound_window_is_a_400_naming_the_field(client, lender, name, value):
    response = send(client, lender, "POST", "/api/v1/products", json.dumps({**DATA, name: value}).encode())
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [name]
