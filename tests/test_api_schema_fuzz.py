"""The published OpenAPI schema (/api/schema/) says exactly what the endpoints do: schemathesis
generates requests from it for every operation, valid ones and invalid ones, signs each as a
lender does (the production signing code, over the exact bytes sent) and sends it to the live
server; no answer may be a 5xx, use a status the schema does not list, or break the schema of
its status. Invalid requests must be refused, and valid ones accepted (or answered by a
documented business outcome, such as a click_id of no journey) wherever the schema can state
every rule."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.formats import unregister_string_format
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.lenders.models import Lender
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory, ProductFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, positive_data_acceptance]
# Product data has rules between fields that JSON Schema cannot state (a minimum not above its
# maximum, kinds that staff add in admin): a schema-valid body may get the documented 400 there.
RULES_BEYOND_THE_SCHEMA = {"POST /api/v1/products", "PUT /api/v1/products/{product_id}"}
# Per operation and mode: 6 operations x 2 modes, about 20 s in all on a busy 2-core machine.
EXAMPLES = 25


# The date-times of the inbound window (prosperas.inbound.bounds), with any offset: the window
# ends at Prosperas' clock, which no static JSON Schema can state, so the schema says it in words
# (occurred_at's description) and valid cases are drawn from it here. Invalid cases still mutate.
def _with_offset(moment: datetime, minutes: int) -> str:
    return moment.astimezone(timezone(timedelta(minutes=minutes))).isoformat()


window_datetimes = st.builds(
    _with_offset, st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


@pytest.fixture
def window_dates():
    schemathesis.openapi.format("date-time", window_datetimes)
    yield
    unregister_string_format("date-time")  # back to schemathesis' own


@pytest.fixture
def api(live_server, transactional_db, window_dates):
    """The schema as published by the live server, and a staging lender (the tester takes staging
    credentials only; the other endpoints take either) with a journey and a product of its own,
    one of them set up by Prosperas without a lender_reference."""
    lender = LenderFactory(environment=Lender.Environment.STAGING)
    LeadFactory(listing__product__lender=lender)
    ProductFactory(lender=lender, lender_reference="")
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    schema.config.checks.update(included_check_names=[check.__name__ for check in CHECKS])
    # A click_id of no journey (404), a product_id of no product (404) and a refused
    # signature on an unknown key are answers to valid data too.
    schema.config.checks.positive_data_acceptance.expected_statuses = ["2xx", "404"]
    return schema, lender


def send_signed(case, *, base_url: str, lender) -> requests.Response:
    """The case as a lender sends it: its JSON body as bytes, signed with the production signing
    code; the generated signing headers are replaced by real ones."""
    raw_body = _raw_body(case)
    headers = {name: value for name, value in (case.headers or {}).items()
               if not name.lower().startswith("x-prosperas")}
    headers.update(signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body))
    case.headers = headers  # what was sent: a mutated signing header never reached the server
    return requests.request(case.method, base_url + case.formatted_path, params=case.query, data=raw_body,
                            headers=headers, timeout=10)


def _raw_body(case) -> bytes:
    """The bytes sent: the JSON of the case's body, or its bytes as they are (a negative case may
    be raw bytes, which no JSON encoder writes)."""
    body = case.body
    if case.method.upper() == "GET" or body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if hasattr(body, "data") and isinstance(body.data, bytes):  # schemathesis' Binary
        return body.data
    return json.dumps(body).encode("utf-8", "surrogatepass")


LENDER_OPERATIONS = {
    "POST /api/v1/postbacks", "POST /api/v1/postbacks/test", "GET /api/v1/products", "POST /api/v1/products",
    "GET /api/v1/products/{product_id}", "PUT /api/v1/products/{product_id}",
}
ORIGIN_OPERATIONS = {"POST /api/v1/oauth2/token", "POST /api/v1/leads", "GET /api/v1/leads/{lead_uuid}",
                     "GET /api/v1/events"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_every_operation_answers_as_its_schema_says(api, live_server, mode):
    schema, lender = api
    every = [result.ok() for result in schema.get_all_operations()]
    # The lenders' signed operations; the origins' API (OAuth2 bearer tokens) is tested by
    # tests/origin_api. A new operation must be put on one side or the other.
    assert {operation.label for operation in every} == LENDER_OPERATIONS | ORIGIN_OPERATIONS
    operations = [operation for operation in every if operation.label in LENDER_OPERATIONS]
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_the_schema_says(case):
            response = send_signed(case, base_url=live_server.url, lender=lender)
            excluded = [positive_data_acceptance] if operation.label in RULES_BEYOND_THE_SCHEMA else []
            case.validate_response(response, checks=CHECKS, excluded_checks=excluded)

        answers_as_the_schema_says()
