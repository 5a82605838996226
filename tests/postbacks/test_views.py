"""POST /api/v1/postbacks through Django's test client (PostgreSQL), and over real HTTP."""

import asyncio
import json
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.utils import timezone

from apps.leads.models import Lead, LeadStatus
from apps.lenders.models import Lender, PostbackAuthFailure, PostbackNonce
from apps.postbacks.models import PostbackEvent
from apps.postbacks.selectors import MANGLINGS
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory, OriginFactory
from tests.postbacks.conftest import URL, body_bytes, signed


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refusal(response) -> str:
    assert response.status_code == 401, response.content
    return response.json()["error"]


# --- Accepted -------------------------------------------------------------------------------


def test_a_well_signed_postback_is_accepted_and_moves_the_lead(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"})

    assert response.status_code == 202
    event = PostbackEvent.objects.get()
    assert response.json() == {
        "event": event.pk, "status": "accepted", "lead_status": "approved", "repeat": False, "effect": "applied",
    }
    lead.refresh_from_db()
    assert lead.status == LeadStatus.APPROVED
    assert (event.lead, event.lender, event.effect) == (lead, lender, PostbackEvent.Effect.APPLIED)


def test_the_event_keeps_the_raw_body_and_the_headers_without_the_signature(lender, lead, post_postback):
    raw_body = b'{ "status" : "approved",\n  "click_id": "%s" }' % lead.tracking_id.encode()

    post_postback(lender, raw_body, headers={"Authorization": "Basic c2VjcmV0", "X-Request-Id": "req-1"})

    event = PostbackEvent.objects.get()
    assert bytes(event.raw_body) == raw_body
    assert event.headers[signing.HEADER_KEY] == lender.postback_key
    assert event.headers["X-Request-Id"] == "req-1"
    assert signing.HEADER_SIGNATURE not in event.headers
    assert "Authorization" not in event.headers
    assert event.source_ip == "127.0.0.1"


def test_every_optional_field_is_stored_as_given(lender, lead, post_postback):
    payload = {
        "click_id": lead.tracking_id, "status": "disbursed", "event_id": "evt-1",
        "occurred_at": "2026-01-03T12:00:00.250-05:00", "product_id": "ln_personal_07", "amount": "1500000.5",
        "currency": "COP", "reason": "", "lender_reference": "APP-9", "metadata": {"branch": "north", "n": [1, None]},
    }

    response = post_postback(lender, payload)

    assert response.status_code == 202
    event = PostbackEvent.objects.get()
    assert event.occurred_at == datetime(2026, 1, 3, 17, 0, 0, 250000, tzinfo=UTC)
    assert (event.event_id, event.product_id, event.lender_reference) == ("evt-1", "ln_personal_07", "APP-9")
    assert (event.amount, event.currency) == (Decimal("1500000.50"), "COP")
    assert event.metadata == {"branch": "north", "n": [1, None]}


def test_occurred_at_defaults_to_the_time_of_receipt(lender, lead, post_postback):
    before = timezone.now()
    post_postback(lender, {"click_id": lead.tracking_id, "status": "pre_approved"})
    event = PostbackEvent.objects.get()
    assert before <= event.occurred_at <= timezone.now()


def test_a_json_content_type_with_a_utf8_charset_is_accepted(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"},
                             content_type="application/json; charset=UTF-8")
    assert response.status_code == 202


def test_answers_are_json_whatever_the_client_accepts(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"},
                             headers={"Accept": "text/html"})
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"


# --- Authentication: hmac -------------------------------------------------------------------


def test_a_postback_signed_with_the_wrong_secret_is_refused_as_bad_signature(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, secret="not-the-secret")
    assert refusal(response) == "bad_signature"
    assert response["WWW-Authenticate"]
    assert not PostbackEvent.objects.exists()


def test_a_body_altered_by_one_byte_after_signing_is_refused(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "rejected"})
    headers = signed(lender, raw_body)
    altered = raw_body.replace(b"rejected", b"rejectee")

    response = client.post(URL, data=altered, content_type="application/json", headers=headers)

    assert refusal(response) == "bad_signature"
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_a_signature_in_uppercase_hex_is_refused(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)
    headers[signing.HEADER_SIGNATURE] = headers[signing.HEADER_SIGNATURE].upper()

    response = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert refusal(response) == "bad_signature"
    assert "lowercase" in response.json()["message"]


@pytest.mark.parametrize("minutes", [-6, 6], ids=["six_minutes_old", "six_minutes_ahead"])
def test_a_timestamp_more_than_five_minutes_away_is_refused_as_stale(lender, lead, post_postback, minutes):
    timestamp = iso(timezone.now() + timedelta(minutes=minutes))
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, timestamp=timestamp)
    assert refusal(response) == "stale_timestamp"


@pytest.mark.parametrize("minutes", [-4, 4], ids=["four_minutes_old", "four_minutes_ahead"])
def test_a_timestamp_within_five_minutes_is_accepted(lender, lead, post_postback, minutes):
    timestamp = iso(timezone.now() + timedelta(minutes=minutes))
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, timestamp=timestamp)
    assert response.status_code == 202


def test_a_timestamp_with_another_offset_is_compared_as_the_same_instant(lender, lead, post_postback):
    timestamp = timezone.now().astimezone(timezone.get_fixed_timezone(-300)).isoformat()
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, timestamp=timestamp)
    assert response.status_code == 202


@pytest.mark.parametrize(
    "timestamp", ["2026-06-03T12:00:00", "1780000000", "yesterday", "2026-02-30T12:00:00Z", "20260603T120000Z"]
)
def test_a_timestamp_that_is_not_iso_8601_with_an_offset_is_refused(lender, lead, post_postback, timestamp):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, timestamp=timestamp)
    assert refusal(response) == "bad_timestamp"


def test_a_replayed_nonce_is_refused(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)

    first = client.post(URL, data=raw_body, content_type="application/json", headers=headers)
    second = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert first.status_code == 202
    assert refusal(second) == "replayed_nonce"
    assert PostbackEvent.objects.count() == 1


def test_the_same_nonce_from_another_lender_is_not_a_replay(lender, lead, post_postback):
    other = LenderFactory()
    other_lead = LeadFactory(listing__product__lender=other)
    first = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, nonce="shared-nonce-1")
    second = post_postback(other, {"click_id": other_lead.tracking_id, "status": "approved"}, nonce="shared-nonce-1")
    assert (first.status_code, second.status_code) == (202, 202)


def test_a_request_with_a_bad_signature_does_not_spend_the_nonce(lender, lead, post_postback):
    payload = {"click_id": lead.tracking_id, "status": "approved"}
    assert refusal(post_postback(lender, payload, secret="wrong", nonce="nonce-0001")) == "bad_signature"
    assert not PostbackNonce.objects.exists()
    assert post_postback(lender, payload, nonce="nonce-0001").status_code == 202


@pytest.mark.parametrize("nonce", ["a" * 7, "a" * 129, "abc.defgh", "abc defgh", "abcdéfgh"],
                         ids=["7_chars", "129_chars", "dot", "space", "non_ascii"])
def test_a_nonce_outside_the_contract_is_refused_as_bad_nonce(lender, lead, client, nonce):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    timestamp = signing.new_timestamp()
    headers = signed(lender, raw_body, timestamp=timestamp)
    headers[signing.HEADER_NONCE] = nonce
    # Signed correctly with that nonce, so the nonce rule alone refuses it.
    headers[signing.HEADER_SIGNATURE] = signing.signature(lender.postback_secret, timestamp, nonce, raw_body)

    response = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert refusal(response) == "bad_nonce"


@pytest.mark.parametrize("nonce", ["A" * 8, "z_-9" * 32], ids=["8_chars", "128_chars"])
def test_nonces_of_8_and_128_allowed_characters_are_accepted(lender, lead, post_postback, nonce):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, nonce=nonce)
    assert response.status_code == 202


def test_the_previous_secret_is_accepted_during_a_rotation(lender, lead, post_postback):
    old_secret = lender.postback_secret
    lender.postback_secret, lender.postback_secret_previous = "the-new-secret", old_secret
    lender.save()

    by_old = post_postback(lender, {"click_id": lead.tracking_id, "status": "pre_approved"}, secret=old_secret)
    by_new = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, secret="the-new-secret")

    assert (by_old.status_code, by_new.status_code) == (202, 202)


def test_the_old_secret_is_refused_once_the_rotation_ends(lender, lead, post_postback):
    old_secret = lender.postback_secret
    lender.postback_secret, lender.postback_secret_previous = "the-new-secret", ""
    lender.save()
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, secret=old_secret)
    assert refusal(response) == "bad_signature"


def test_an_unknown_key_is_refused_and_counted_without_a_lender(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)
    headers[signing.HEADER_KEY] = "pk_nobody"

    response = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert refusal(response) == "unknown_key"
    failure = PostbackAuthFailure.objects.get()
    assert (failure.lender, failure.reason, failure.source_ip) == (None, "unknown_key", "127.0.0.1")


def test_a_request_without_credentials_is_refused_as_missing_headers(lead, client):
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json")
    assert refusal(response) == "missing_headers"


def test_a_request_with_a_key_but_no_signature_names_the_missing_header(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)
    del headers[signing.HEADER_SIGNATURE]

    response = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert refusal(response) == "missing_headers"
    assert signing.HEADER_SIGNATURE in response.json()["message"]


def test_every_refusal_is_counted_per_lender_and_reason_without_the_body(lender, lead, post_postback):
    payload = {"click_id": lead.tracking_id, "status": "approved"}
    post_postback(lender, payload, secret="wrong")
    post_postback(lender, payload, timestamp=iso(timezone.now() - timedelta(hours=1)))

    failures = PostbackAuthFailure.objects.order_by("id")
    assert [(f.lender, f.reason, f.source_ip) for f in failures] == [
        (lender, "bad_signature", "127.0.0.1"), (lender, "stale_timestamp", "127.0.0.1"),
    ]
    assert not PostbackEvent.objects.exists()


def test_a_lender_without_a_secret_is_refused_rather_than_verified_against_nothing(lender, lead, client):
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signed(lender, raw_body)
    Lender.objects.filter(pk=lender.pk).update(postback_secret="")

    response = client.post(URL, data=raw_body, content_type="application/json", headers=headers)

    assert refusal(response) == "unknown_key"


# --- Authentication: api_key and the allowlist ----------------------------------------------


@pytest.fixture
def api_key_lender(db):
    api_key = "ak_live_" + "x" * 40
    return LenderFactory(
        postback_auth=Lender.PostbackAuth.API_KEY, postback_secret=api_key,
        postback_api_key_digest=Lender.api_key_digest(api_key),
    )


def test_an_api_key_lender_is_accepted_with_its_bearer_key(api_key_lender, client):
    lead = LeadFactory(listing__product__lender=api_key_lender)
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {api_key_lender.postback_secret}"})
    assert response.status_code == 202
    assert PostbackEvent.objects.get().lender == api_key_lender


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR", "Bearer  "], ids=["lower", "upper", "mixed", "two_spaces"])
def test_the_bearer_scheme_is_read_in_any_case_as_http_says(api_key_lender, client, scheme):
    """RFC 9110 §11.1: authentication scheme names are case-insensitive."""
    lead = LeadFactory(listing__product__lender=api_key_lender)
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json",
                           headers={"Authorization": f"{scheme} {api_key_lender.postback_secret}"})
    assert response.status_code == 202, response.content


def test_a_wrong_bearer_key_is_refused(api_key_lender, client):
    lead = LeadFactory(listing__product__lender=api_key_lender)
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json", headers={"Authorization": "Bearer ak_live_wrong"})
    assert refusal(response) == "unknown_key"


def test_an_api_key_lender_that_sends_its_public_key_must_still_send_its_bearer_key(api_key_lender, client):
    lead = LeadFactory(listing__product__lender=api_key_lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    response = client.post(URL, data=raw_body, content_type="application/json",
                           headers={signing.HEADER_KEY: api_key_lender.postback_key})
    assert refusal(response) == "missing_headers"
    assert PostbackAuthFailure.objects.get().lender == api_key_lender


def test_an_hmac_lender_cannot_authenticate_with_its_secret_as_a_bearer_key(lender, lead, client):
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {lender.postback_secret}"})
    assert refusal(response) == "unknown_key"


def test_an_address_outside_the_allowlist_is_refused(lender, lead, post_postback):
    lender.postback_ip_allowlist = "10.0.0.7\n2001:db8::1"
    lender.save()
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, REMOTE_ADDR="10.0.0.8")
    assert refusal(response) == "address_not_allowed"
    assert PostbackAuthFailure.objects.get().source_ip == "10.0.0.8"


@pytest.mark.parametrize("address", ["10.0.0.7", "2001:db8::1", "2001:0db8:0:0:0:0:0:1"])
def test_an_address_on_the_allowlist_is_accepted(lender, lead, post_postback, address):
    lender.postback_ip_allowlist = "10.0.0.7\n2001:db8::1"
    lender.save()
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, REMOTE_ADDR=address)
    assert response.status_code == 202


def test_the_allowlist_applies_to_api_key_lenders_too(api_key_lender, client):
    api_key_lender.postback_ip_allowlist = "10.0.0.7"
    api_key_lender.save()
    lead = LeadFactory(listing__product__lender=api_key_lender)
    response = client.post(URL, data=body_bytes({"click_id": lead.tracking_id, "status": "approved"}),
                           content_type="application/json", REMOTE_ADDR="10.0.0.9",
                           headers={"Authorization": f"Bearer {api_key_lender.postback_secret}"})
    assert refusal(response) == "address_not_allowed"


def test_x_forwarded_for_is_ignored_without_trusted_proxies(lender, lead, post_postback):
    lender.postback_ip_allowlist = "10.0.0.7"
    lender.save()
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"},
                             headers={"X-Forwarded-For": "10.0.0.7"}, REMOTE_ADDR="203.0.113.5")
    assert refusal(response) == "address_not_allowed"


def test_behind_one_trusted_proxy_the_address_is_the_last_forwarded_one(lender, lead, post_postback, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    lender.postback_ip_allowlist = "10.0.0.7"
    lender.save()
    payload = {"click_id": lead.tracking_id, "status": "approved"}

    spoofed = post_postback(lender, payload, headers={"X-Forwarded-For": "10.0.0.7, 198.51.100.4"},
                            REMOTE_ADDR="192.168.0.2")
    genuine = post_postback(lender, payload, headers={"X-Forwarded-For": "198.51.100.4, 10.0.0.7"},
                            REMOTE_ADDR="192.168.0.2")

    assert refusal(spoofed) == "address_not_allowed"
    assert genuine.status_code == 202
    assert PostbackEvent.objects.get().source_ip == "10.0.0.7"


# --- Size, content type, JSON ---------------------------------------------------------------


def test_a_body_over_64_kib_is_refused_with_413(lender, lead, post_postback):
    payload = {"click_id": lead.tracking_id, "status": "approved", "metadata": {"pad": "x" * (65 * 1024)}}
    response = post_postback(lender, payload)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert not PostbackAuthFailure.objects.exists()


def test_a_body_of_exactly_64_kib_is_not_too_large(lender, lead, post_postback):
    payload = {"click_id": lead.tracking_id, "status": "approved", "metadata": {"pad": ""}}
    padding = 64 * 1024 - len(body_bytes(payload))
    payload["metadata"]["pad"] = "x" * padding
    assert len(body_bytes(payload)) == 64 * 1024
    assert post_postback(lender, payload).status_code == 202


def test_a_body_streamed_without_a_content_length_is_refused_by_the_bytes_read():
    """An ASGI server hands Django a chunked body with no Content-Length: only what is read tells.
    Refused before authentication, so no database is involved."""
    chunk = b"x" * 16384
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for _ in range(5)]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # no disconnect: the handler cancels this once it has answered

    async def send(message):
        sent.append(message)

    # In a thread of its own: after the browser tests, Playwright's event loop owns this thread.
    runner = threading.Thread(target=async_to_sync(ASGIHandler()), args=(scope, receive, send))
    runner.start()
    runner.join(timeout=30)

    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"] == "too_large"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1",
                     "application/jsonx", "application/xml"],
)
def test_a_body_that_is_not_declared_json_is_refused_with_415(lender, lead, post_postback, content_type):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"}, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "raw_body",
    [b'{"click_id": "x", "status": ', b"not json", b"", b'["approved"]', b'"approved"', b"\xff\xfe{}",
     b'{"click_id": "a", "click_id": "b", "status": "approved"}', b'{"click_id": "a", "status": NaN}',
     b"[" * 30000 + b"]" * 30000],
    ids=["truncated", "text", "empty", "array", "string", "not_utf8", "duplicate_key", "nan", "deeply_nested"],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_400(lender, post_postback, raw_body):
    response = post_postback(lender, raw_body)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["fields"]["non_field_errors"]


# --- Field rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("click_id", ""), ("click_id", "x" * 256), ("click_id", 12345), ("click_id", None),
        ("status", "approve"), ("status", "APPROVED"), ("status", 2), ("status", None),
        ("event_id", ""), ("event_id", "e" * 129), ("event_id", 7), ("event_id", None),
        ("occurred_at", "2026-06-03T12:00:00"), ("occurred_at", "2026-06-03"), ("occurred_at", "soon"),
        ("occurred_at", 1780000000),
        # An explicit id: the value is computed at collection, and every test process must agree on names.
        pytest.param("occurred_at", iso(datetime.now(UTC) + timedelta(hours=1)), id="occurred_at-an_hour_ahead"),
        ("product_id", "personal"), ("product_id", ""), ("product_id", "ln_personal_01\n"), ("product_id", 1),
        ("amount", "0"), ("amount", "0.00"), ("amount", "-5"), ("amount", "1.005"), ("amount", "1e3"),
        ("amount", "1,000"), ("amount", " 10"), ("amount", "10."), ("amount", ".5"), ("amount", 100),
        ("amount", "1" * 13), ("amount", "NaN"),
        ("reason", "r" * 513), ("reason", 5),
        ("lender_reference", "l" * 129), ("lender_reference", 5),
        ("metadata", "{}"), ("metadata", ["a"]), ("metadata", None),
    ],
)
def test_each_field_rule_refuses_a_bad_value_with_400_naming_the_field(lender, lead, post_postback, field, value):
    payload = {"click_id": lead.tracking_id, "status": "approved", field: value}
    if field == "amount":
        payload["currency"] = "COP"

    response = post_postback(lender, payload)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error"
    assert list(body["fields"]) == [field]
    assert all(isinstance(sentence, str) and sentence for sentence in body["fields"][field])
    assert field in body["message"]
    assert not PostbackEvent.objects.exists()


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+05:30", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"],
                         ids=["dotnet_min_value_east", "year_one", "before_2000"])
def test_a_date_before_the_sane_window_is_refused_with_400_and_nothing_is_stored(lender, lead, post_postback,
                                                                                occurred_at):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "occurred_at": occurred_at})

    assert response.status_code == 400, response.content
    assert response.json()["fields"]["occurred_at"] == ["Must not be before 2000-01-01T00:00:00Z."]
    assert not PostbackEvent.objects.exists()


def test_the_first_moment_of_the_window_is_accepted(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved",
                                      "occurred_at": "2000-01-01T00:00:00Z"})
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("currency", ["cop", "CO", "COPS", "C0P", 170, None])
def test_a_bad_currency_is_refused_naming_it(lender, lead, post_postback, currency):
    payload = {"click_id": lead.tracking_id, "status": "disbursed", "amount": "10.00", "currency": currency}
    response = post_postback(lender, payload)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["currency"]


def test_an_amount_without_a_currency_is_refused_naming_the_currency(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "disbursed", "amount": "10.00"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"currency": ["Required when amount is given."]}


def test_a_currency_without_an_amount_is_accepted(lender, lead, post_postback):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "currency": "COP"})
    assert response.status_code == 202


@pytest.mark.parametrize("field", ["click_id", "status"])
def test_a_missing_required_field_is_refused_naming_it(lender, lead, post_postback, field):
    payload = {"click_id": lead.tracking_id, "status": "approved"}
    del payload[field]
    response = post_postback(lender, payload)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_an_unknown_top_level_field_is_refused_naming_it(lender, lead, post_postback):
    payload = {"click_id": lead.tracking_id, "status": "approved", "clickId": lead.tracking_id, "colour": "red"}
    response = post_postback(lender, payload)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"clickId", "colour"}


def test_all_errors_are_reported_at_once(lender, lead, post_postback):
    payload = {"click_id": "", "status": "approved", "amount": "-1", "extra": 1}
    response = post_postback(lender, payload)
    assert set(response.json()["fields"]) == {"click_id", "amount", "currency", "extra"}


@pytest.mark.parametrize("amount", ["1", "1.5", "1.50", "0.01", "999999999999.99"])
def test_amounts_greater_than_zero_with_up_to_two_decimals_are_accepted(lender, lead, post_postback, amount):
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "disbursed", "amount": amount,
                                      "currency": "COP"})
    assert response.status_code == 202
    assert PostbackEvent.objects.get().amount == Decimal(amount)


# --- Matching and effects -------------------------------------------------------------------


def test_an_unknown_click_id_answers_404_and_is_stored_unmatched(lender, post_postback):
    response = post_postback(lender, {"click_id": "7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e", "status": "approved"})

    assert response.status_code == 404
    event = PostbackEvent.objects.get()
    assert response.json()["error"] == "unknown_click_id"
    assert response.json()["event"] == event.pk
    assert (event.lead, event.effect) == (None, PostbackEvent.Effect.UNMATCHED)
    assert event.click_id == "7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e"


@pytest.mark.parametrize(
    ("variant", "looks_like"),
    [
        (str.upper, "letter_case"),
        (lambda value: value + " ", "whitespace"),
        (lambda value: " " + value, "whitespace"),
        (lambda value: value + "\n", "whitespace"),
        (lambda value: value.split("_", 1)[1], "prefix_stripped"),
        (lambda value: "movistar_" + value.split("_", 1)[1], "prefix_changed"),
        (lambda value: "lender-" + value, "prefix_added"),
        (lambda value: value[:30], "truncated"),
        (lambda value: value.replace("_", "%5F"), "percent_encoded"),
        (lambda value: value.replace("7", "\uff17"), "unicode_normalized"),
        (lambda value: unicodedata.normalize("NFD", value.replace("e", "\u00e9")), None),
    ],
    ids=["upper_case", "trailing_space", "leading_space", "trailing_newline", "prefix_stripped", "prefix_changed",
         "prefix_added", "truncated", "percent_encoded", "unicode_fullwidth", "unrelated_accents"],
)
def test_a_mangled_click_id_does_not_match_and_the_404_says_what_it_looks_like(lender, post_postback, variant,
                                                                               looks_like):
    lead = LeadFactory(listing__product__lender=lender, origin__code="claro",
                       tracking_id="claro_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e")
    click_id = variant(lead.tracking_id)

    response = post_postback(lender, {"click_id": click_id, "status": "approved"})

    assert response.status_code == 404
    event = PostbackEvent.objects.get()
    assert event.click_id == click_id  # kept byte for byte, never trimmed
    assert (event.lead, event.effect) == (None, PostbackEvent.Effect.UNMATCHED)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW
    body = response.json()
    if looks_like is None:
        assert "looks_like" not in body
        assert event.looks_like == ""
    else:
        assert looks_like in body["looks_like"]
        assert MANGLINGS[looks_like] in body["message"]
        assert event.looks_like == ",".join(body["looks_like"])
    assert lead.tracking_id not in response.content.decode()  # explains, never hands over the real one


def test_a_click_id_like_another_lenders_journey_gets_no_hint(lender, post_postback):
    someone_elses = LeadFactory()
    response = post_postback(lender, {"click_id": someone_elses.tracking_id.upper(), "status": "approved"})
    assert response.status_code == 404
    assert "looks_like" not in response.json()


def test_another_lenders_click_id_does_not_match(lender, post_postback):
    someone_elses = LeadFactory()
    response = post_postback(lender, {"click_id": someone_elses.tracking_id, "status": "approved"})
    assert response.status_code == 404
    someone_elses.refresh_from_db()
    assert someone_elses.status == LeadStatus.NEW


def test_a_repeat_is_recorded_again_and_marked_as_a_repeat(lender, lead, post_postback):
    first = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "event_id": "e1"})
    retry = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "event_id": "e1"})

    assert (first.json()["repeat"], retry.json()["repeat"]) == (False, True)
    assert retry.json()["effect"] == "no_change"
    assert PostbackEvent.objects.count() == 2


def test_the_same_status_under_another_event_id_is_a_repeat(lender, lead, post_postback):
    post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "event_id": "e1"})
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "event_id": "e2"})
    assert response.json()["repeat"] is True


def test_a_new_status_is_not_a_repeat(lender, lead, post_postback):
    post_postback(lender, {"click_id": lead.tracking_id, "status": "pre_approved", "event_id": "e1"})
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved", "event_id": "e2"})
    assert response.json()["repeat"] is False


def test_an_approved_then_a_late_pre_approved_leaves_the_lead_approved(lender, lead, post_postback):
    post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"})
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "pre_approved"})

    assert response.status_code == 202
    assert response.json() | {"event": None} == {
        "event": None, "status": "accepted", "lead_status": "approved", "repeat": False, "effect": "no_change",
    }
    lead.refresh_from_db()
    assert lead.status == LeadStatus.APPROVED


def test_an_event_contradicting_the_lead_is_kept_and_flags_the_lead(lender, lead, post_postback):
    post_postback(lender, {"click_id": lead.tracking_id, "status": "rejected", "reason": "Income too low"})
    response = post_postback(lender, {"click_id": lead.tracking_id, "status": "approved"})

    assert response.status_code == 202
    assert response.json()["effect"] == "contradicts"
    assert response.json()["lead_status"] == "rejected"
    lead.refresh_from_db()
    assert lead.needs_review is True
    assert PostbackEvent.objects.filter(effect=PostbackEvent.Effect.CONTRADICTS).count() == 1


def test_the_lead_timeline_in_admin_shows_the_rejection_reason(lender, lead, post_postback, admin_client):
    post_postback(lender, {"click_id": lead.tracking_id, "status": "rejected", "reason": "Income too low"})
    page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/")
    assert page.status_code == 200
    assert "Income too low" in page.content.decode()


# --- Methods and schema ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_refused_with_405(client, db, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "POST" in response["Allow"]


def test_the_openapi_schema_documents_the_tester_with_examples_for_every_response(client, db):
    schema = json.loads(client.get("/api/schema/", {"format": "json"}).content)
    operation = schema["paths"]["/api/v1/postbacks/test"]["post"]
    assert set(operation["responses"]) == {"202", "400", "401", "404", "413", "415", "429"}
    assert all(response["content"]["application/json"]["examples"] for response in operation["responses"].values())
    examples = operation["responses"]["401"]["content"]["application/json"]["examples"].values()
    assert "not_a_staging_key" in {example["value"]["error"] for example in examples}
    assert "records nothing" in operation["description"]


def test_the_openapi_404_documents_looks_like(client, db):
    schema = json.loads(client.get("/api/schema/", {"format": "json"}).content)
    looks_like = schema["components"]["schemas"]["PostbackUnmatched"]["properties"]["looks_like"]
    enum_name = looks_like["items"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][enum_name]["enum"]) == set(MANGLINGS)


def test_the_openapi_schema_documents_the_postback_endpoint(client, db):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/postbacks"]["post"]
    assert set(operation["responses"]) == {"202", "400", "401", "404", "413", "415", "429"}
    assert all(response["content"]["application/json"]["examples"] for response in operation["responses"].values())
    assert {parameter["name"] for parameter in operation["parameters"]} == {
        "X-Prosperas-Key", "X-Prosperas-Timestamp", "X-Prosperas-Nonce", "X-Prosperas-Signature",
    }
    assert operation["security"] == [{"ProsperasSignature": []}, {"ProsperasApiKey": []}]
    assert "HMAC-SHA256" in schema["components"]["securitySchemes"]["ProsperasSignature"]["description"]
    assert set(schema["components"]["schemas"]["PostbackInput"]["properties"]) == {
        "click_id", "status", "event_id", "occurred_at", "product_id", "amount", "currency", "reason",
        "lender_reference", "metadata",
    }


# --- Real HTTP ------------------------------------------------------------------------------


def test_a_signed_postback_over_real_http_is_accepted(live_server):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)

    response = requests.post(live_server.url + URL, data=raw_body, headers=headers, timeout=10)

    assert response.status_code == 202, response.text
    assert response.json()["lead_status"] == "approved"
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.APPROVED


def test_the_same_signed_request_sent_at_once_from_many_clients_is_accepted_once(live_server):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)

    def send(_):
        return requests.post(live_server.url + URL, data=raw_body, headers=headers, timeout=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))

    codes = sorted(response.status_code for response in responses)
    assert codes == [202] + [401] * 7
    assert {r.json()["error"] for r in responses if r.status_code == 401} == {"replayed_nonce"}
    assert PostbackEvent.objects.count() == 1


def test_a_body_over_64_kib_over_real_http_answers_413_cleanly(live_server):
    raw_body = body_bytes({"click_id": "x", "status": "approved", "metadata": {"pad": "x" * (65 * 1024)}})
    response = requests.post(live_server.url + URL, data=raw_body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("language", ["es-CO", "es", "en"])
def test_lender_facing_errors_speak_english_whatever_the_requests_language(lender, lead, post_postback, language):
    """DESIGN §5: lender-facing endpoints speak English with stable error codes."""
    response = post_postback(lender, {"click_id": lead.tracking_id}, headers={"Accept-Language": language})

    assert response.status_code == 400
    assert response.json()["fields"]["status"] == ["This field is required."]


def test_a_click_id_mangled_every_way_at_once_is_recorded_with_all_its_hints(lender, post_postback):
    tracking_id = "claro_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e"
    LeadFactory(listing__product__lender=lender, origin=OriginFactory(code="claro"), tracking_id=tracking_id)
    mangled = "%20%7B%E2%80%8B" + tracking_id.replace("-", "").upper()[6:] + "%7D"

    response = post_postback(lender, {"click_id": mangled, "status": "approved"})

    assert response.status_code == 404, response.content
    assert len(response.json()["looks_like"]) >= 5
    assert PostbackEvent.objects.get().looks_like == ",".join(response.json()["looks_like"])
