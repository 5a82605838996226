"""Property-based fuzzing of the endpoint and its tester: whatever the body and the headers, the
answer is a deliberate 2xx or 4xx with a JSON error, never a 5xx or an unhandled exception, and
whatever the endpoint recorded can be shown: the event's admin pages, the consumer's status page
and the lead's admin pages.

Django's test client re-raises any exception a view lets through, so an unhandled one fails the
example. Two kinds of input: arbitrary bytes and headers (most fail authentication), and
correctly signed bodies of arbitrary JSON (which reach validation and ingestion).
"""

import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.postbacks import contract
from apps.postbacks.models import PostbackEvent
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory

FUZZ_SETTINGS = settings(
    max_examples=100, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PATHS = st.sampled_from([contract.PATH, contract.TESTER_PATH])
FIELDS = ["click_id", "status", "event_id", "occurred_at", "product_id", "amount", "currency", "reason",
          "lender_reference", "metadata"]

# Text drawn often from the characters that break storage or matching: NUL, a lone surrogate,
# percent signs, non-ASCII, whitespace.
tricky_text = st.text(alphabet=st.sampled_from("a7_-.%\x00\ud800é€\u00a0 \t\n"), max_size=6) | st.text(max_size=30)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text
                | st.integers(min_value=10**20, max_value=10**30))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(tricky_text, children, max_size=4), max_leaves=12)
# Values close to valid ones are likelier to get past a rule into the next step.
near_valid = st.sampled_from(["approved", "disbursed", "rejected", "1500000.00", "0.01", "COP", "cop",
                              "2026-06-03T12:00:00.000-05:00", "2026-06-03T12:00:00", "ln_personal_01", "",
                              " ", "\x00", "\u0000x", "\ud800", "%5F", "é" * 300,
                              # The ends of the calendar with odd offsets, and the window's own edge.
                              "0001-01-01T00:00:00+05:30", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59-14:00",
                              "9999-12-31T23:59:59.9999999+00:00", "1999-12-31T23:59:59-00:01",
                              "2000-01-01T00:00:00+00:01", "2000-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                              "999999999999.99", "1000000000000", "0000000000001.00", "-1", "1e400", "NaN"])
bodies = st.dictionaries(st.sampled_from(FIELDS[2:]) | tricky_text, near_valid | json_values, max_size=5)
header_text = (st.text(max_size=140) | tricky_text
               | st.sampled_from(["", "x" * 8, "2026-06-03T12:00:00Z", "a" * 64, "Bearer x"]))


@pytest.fixture
def lender_and_lead(db):
    lender = LenderFactory()
    return lender, LeadFactory(listing__product__lender=lender, email="ana@example.com")


def assert_deliberate(response) -> None:
    assert response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert response.status_code in (202,) or isinstance(body.get("error"), str)


@FUZZ_SETTINGS
@given(path=PATHS, raw_body=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/json; charset=x"]),
    key=header_text, timestamp=header_text, nonce=header_text, signature=header_text, authorization=header_text)
def test_arbitrary_bytes_and_headers_never_cause_a_server_error(client, lender_and_lead, path, raw_body,
                                                                 content_type, key, timestamp, nonce, signature,
                                                                 authorization):
    headers = {signing.HEADER_KEY: key, signing.HEADER_TIMESTAMP: timestamp, signing.HEADER_NONCE: nonce,
               signing.HEADER_SIGNATURE: signature, "Authorization": authorization, "Content-Type": content_type}
    # generic() sends the bytes as they are (post() would re-encode them to the declared charset).
    response = client.generic("POST", path, data=raw_body, content_type=content_type, headers=headers)
    assert_deliberate(response)


@FUZZ_SETTINGS
@given(path=PATHS, body=bodies, base=st.sampled_from(["none", "click_id", "valid", "valid_and_more"]),
       status=st.sampled_from(["pre_approved", "approved", "disbursed", "rejected", "cancelled"]),
       metadata=st.none() | st.dictionaries(tricky_text, json_values | near_valid, max_size=3),
       extra_header=header_text, ensure_ascii=st.booleans())
def test_signed_arbitrary_json_never_causes_a_server_error(client, admin_client, lender_and_lead, path, body, base,
                                                           status, metadata, extra_header, ensure_ascii):
    lender, lead = lender_and_lead
    # A valid postback half the time, so that examples get past validation into ingestion.
    if base == "valid":
        body = {"click_id": lead.tracking_id, "status": status}
    elif base == "valid_and_more":
        body = {"click_id": lead.tracking_id, "status": status, **body}
    elif base == "click_id":
        body = {**body, "click_id": lead.tracking_id}
    if metadata is not None:
        body["metadata"] = metadata
    raw_body = json.dumps(body, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    headers["X-Request-Id"] = extra_header  # kept with the event: any value must be storable
    response = client.generic("POST", path, data=raw_body, content_type=headers.pop("Content-Type"),
                              headers=headers)
    assert_deliberate(response)
    if path == contract.PATH and response.status_code in (202, 404):
        assert_shown_everywhere(client, admin_client, response.json()["event"])


def assert_shown_everywhere(client, admin_client, event_pk: int) -> None:
    """What was recorded can be shown by every page that shows it (a BC date once broke them all)."""
    event = PostbackEvent.objects.get(pk=event_pk)
    assert admin_client.get(reverse("admin:postbacks_postbackevent_change", args=[event.pk])).status_code == 200
    assert admin_client.get(reverse("admin:postbacks_postbackevent_changelist")).status_code == 200
    if event.lead_id is not None:
        lead = event.lead
        assert client.get(reverse("flow:status", args=[lead.public_token])).status_code == 200
        assert admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200
        assert admin_client.get(reverse("admin:leads_lead_changelist")).status_code == 200


@pytest.mark.parametrize("metadata", [{"a": "\x00"}, {"\x00": 1}, {"a": {"b": 1e400}}],
                         ids=["nul_value", "nul_key", "infinite_number"])
def test_metadata_the_database_cannot_hold_is_refused_with_400(lender_and_lead, post_postback, metadata):
    lender, lead = lender_and_lead
    raw_body = json.dumps({"click_id": lead.tracking_id, "status": "approved", "metadata": metadata}
                          ).encode("utf-8", "surrogatepass").replace(b"Infinity", b"1e400")
    response = post_postback(lender, raw_body)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["metadata"]


@pytest.mark.parametrize("raw_body", [b'{"click_id": "\\ud800", "status": "approved"}',
                                      b'{"\\udfff": 1, "status": "approved"}'], ids=["in_a_value", "in_a_key"])
def test_a_body_holding_an_unpaired_surrogate_is_refused_as_not_json(lender_and_lead, post_postback, raw_body):
    lender, _ = lender_and_lead
    response = post_postback(lender, raw_body)
    assert response.status_code == 400
    assert "unpaired surrogate" in response.json()["fields"]["non_field_errors"][0]


def test_a_nul_character_in_a_kept_header_is_stored_written_out(lender_and_lead, post_postback):
    lender, lead = lender_and_lead
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"},
                             headers={"X-Request-Id": "a\x00b"})
    assert response.status_code == 202
    assert PostbackEvent.objects.get().headers["X-Request-Id"] == "a\\u0000b"


def test_half_a_surrogate_pair_in_a_kept_header_is_stored_written_out(lender_and_lead, post_postback):
    lender, lead = lender_and_lead
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"},
                             headers={"X-Request-Id": "a\ud800b"})
    assert response.status_code == 202
    assert PostbackEvent.objects.get().headers["X-Request-Id"] == "a\\ud800b"
