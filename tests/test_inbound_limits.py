"""Rate limits of the lender-facing endpoints (prosperas/inbound/limits.py) and the counting of
refused requests (apps.lenders.signed_requests.refusal_record), over real HTTP on loopback: the
live server, PostgreSQL, and the shared Redis the limits count in. Each test sends from addresses
of its own (X-Forwarded-For behind one trusted proxy), so counts of other tests never mix in."""

import ipaddress
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db.models import Sum

from apps.lenders.models import PostbackAuthFailure
from apps.postbacks import contract
from apps.postbacks.models import PostbackEvent
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def behind_a_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1  # the client's address is read from X-Forwarded-For
    return settings


def an_address() -> str:
    """A private address picked at random: no other test sends from it at the same moment."""
    return str(ipaddress.ip_address("10.0.0.0") + random.randrange(1, 2**24))


def send(session: requests.Session, url: str, raw_body: bytes, headers: dict, address: str) -> requests.Response:
    return session.post(url, data=raw_body, headers={**headers, "X-Forwarded-For": address}, timeout=30)


def delivered(session: requests.Session, url: str, lender, click_id: str, event_id: str, address: str) -> int:
    """A lender's delivery of one postback: a connection the test server reset (fifty at once
    overflow its accept queue on a busy machine) is sent again, signed afresh, as a lender
    retries; the answer's status."""
    for attempt in range(3):
        raw_body, headers = postback(lender, click_id, event_id=event_id)
        try:
            return send(session, url, raw_body, headers, address).status_code
        except requests.ConnectionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def postback(lender, click_id: str, status: str = "approved", **fields) -> tuple[bytes, dict]:
    raw_body = json.dumps({"click_id": click_id, "status": status, **fields}).encode()
    return raw_body, signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)


def badly_signed(lender, raw_body: bytes) -> dict:
    return {**signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body),
            signing.HEADER_SIGNATURE: "0" * 64}


def test_a_lender_sending_fifty_postbacks_a_second_is_never_limited(live_server, behind_a_proxy):
    """Production's limits (not the raised ones of the test settings), a lender's one address and
    one key, 50 signed postbacks a second for 5 seconds: every one is answered, none 429.

    Fifty senders each send one postback a second, staggered by 20 ms, so the pace holds while
    answers take up to a second (a busy machine): what is checked is when they left, 50 a second."""
    behind_a_proxy.LENDER_RATE_LIMITS = dict(behind_a_proxy.LENDER_RATE_LIMIT_DEFAULTS)
    lender = LenderFactory()
    leads = [LeadFactory(listing__product__lender=lender) for _ in range(10)]
    address, url, rate, seconds = an_address(), live_server.url + contract.PATH, 50, 5
    answers: list[int] = []
    departures: list[float] = []
    started = time.monotonic() + 0.5  # every sender ready before the first leaves

    def sender(index: int) -> None:
        session = requests.Session()
        for second in range(seconds):
            number = second * rate + index
            time.sleep(max(0.0, started + number / rate - time.monotonic()))
            departures.append(time.monotonic())
            answers.append(delivered(session, url, lender, leads[number % len(leads)].tracking_id, f"ev-{number}",
                                     address))

    threads = [threading.Thread(target=sender, args=(index,)) for index in range(rate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == rate * seconds
    assert 429 not in answers
    assert set(answers) == {202}, sorted(set(answers))
    pace = (len(departures) - 1) / (max(departures) - min(departures))
    assert pace >= 0.9 * rate, f"sent only {pace:.1f} a second"
    assert PostbackEvent.objects.filter(lender=lender).count() == rate * seconds


def test_a_flood_from_one_address_gets_429_with_retry_after_and_other_addresses_go_on(live_server, behind_a_proxy):
    behind_a_proxy.LENDER_RATE_LIMITS = {**behind_a_proxy.LENDER_RATE_LIMITS, "address": "20/h"}
    lender = LenderFactory()
    raw_body = json.dumps({"click_id": "whatever", "status": "approved"}).encode()
    session, url, flooder = requests.Session(), live_server.url + contract.PATH, an_address()

    answers = [send(session, url, raw_body, badly_signed(lender, raw_body), flooder) for _ in range(40)]

    assert [answer.status_code for answer in answers[:20]] == [401] * 20
    limited = answers[20:]
    assert {answer.status_code for answer in limited} == {429}
    for answer in limited:
        assert 1 <= int(answer.headers["Retry-After"]) <= 3600
        assert answer.json()["error"] == "rate_limited" and "this address" in answer.json()["message"]
    # A 429 is decided before the body is read or authenticated: only the 20 refusals are counted.
    assert PostbackAuthFailure.objects.aggregate(total=Sum("count"))["total"] == 20
    assert send(session, url, raw_body, badly_signed(lender, raw_body), an_address()).status_code == 401


def test_a_key_is_limited_across_addresses_and_only_by_requests_that_authenticate(live_server, behind_a_proxy):
    """The per-key limit counts a lender's authenticated requests, from any address; requests
    that fail authentication do not use it up, so nobody can exhaust a lender's key with its
    public key alone."""
    behind_a_proxy.LENDER_RATE_LIMITS = {**behind_a_proxy.LENDER_RATE_LIMITS, "key": "10/h"}
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    session, url = requests.Session(), live_server.url + contract.PATH
    for _ in range(30):  # an attacker with the public key, from many addresses
        raw_body = json.dumps({"click_id": lead.tracking_id, "status": "approved"}).encode()
        assert send(session, url, raw_body, badly_signed(lender, raw_body), an_address()).status_code == 401

    answers = [send(session, url, *postback(lender, lead.tracking_id, event_id=f"e{n}"), an_address())
               for n in range(12)]

    assert [answer.status_code for answer in answers] == [202] * 10 + [429] * 2
    assert "this key" in answers[-1].json()["message"] and int(answers[-1].headers["Retry-After"]) >= 1


def test_three_hundred_bad_signatures_write_a_bounded_number_of_rows(live_server, behind_a_proxy, settings):
    """300 refused requests of one lender's key from one address, 8 at a time, then 300 with
    made-up keys: each flood adds to one count per hour (two rows at most, should it cross the
    hour), with a few samples, instead of 300 rows."""
    lender = LenderFactory()
    url, address = live_server.url + contract.PATH, an_address()
    raw_body = json.dumps({"click_id": "x", "status": "approved", "metadata": {"email": "ana@example.com"}}).encode()

    def flood(headers_for) -> list[int]:
        def one(_):
            return send(requests.Session(), url, raw_body, headers_for(), address).status_code
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(300)))

    assert set(flood(lambda: badly_signed(lender, raw_body))) == {401}
    made_up = lambda: {**badly_signed(lender, raw_body), signing.HEADER_KEY: f"pk_{random.getrandbits(64):x}"}
    assert set(flood(made_up)) == {401}

    ours = PostbackAuthFailure.objects.filter(lender=lender, reason="bad_signature")
    nobody = PostbackAuthFailure.objects.filter(lender=None, reason="unknown_key", source_ip=address)
    for rows in (ours, nobody):
        assert 1 <= rows.count() <= 2
        assert rows.aggregate(total=Sum("count"))["total"] == 300
        assert all(len(row.samples) <= settings.LENDER_REFUSAL_SAMPLES for row in rows)
    sample = ours.first().samples[0]
    assert sample["headers"][signing.HEADER_KEY] == lender.postback_key
    assert signing.HEADER_SIGNATURE not in sample["headers"] and "ana@example.com" not in sample["body"]
    assert nobody.get().key == ""  # made-up keys are not kept: they cannot add rows


@pytest.mark.parametrize("path", [contract.PATH, contract.TESTER_PATH, "/api/v1/products",
                                  "/api/v1/lenders/callbacks/made-up-token"])
def test_every_lender_facing_endpoint_is_limited_per_address(live_server, behind_a_proxy, path):
    behind_a_proxy.LENDER_RATE_LIMITS = {**behind_a_proxy.LENDER_RATE_LIMITS, "address": "3/h"}
    session, address = requests.Session(), an_address()

    answers = [send(session, live_server.url + path, b"{}", {"Content-Type": "application/json"}, address)
               for _ in range(4)]

    assert 429 not in [answer.status_code for answer in answers[:3]]
    assert answers[3].status_code == 429 and int(answers[3].headers["Retry-After"]) >= 1


def test_with_the_limits_cache_down_lenders_are_not_refused(live_server, behind_a_proxy, caplog):
    behind_a_proxy.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                         "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens there
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)

    answer = send(requests.Session(), live_server.url + contract.PATH, *postback(lender, lead.tracking_id),
                  an_address())

    assert answer.status_code == 202, answer.text
    assert any("not applied" in record.getMessage() and record.levelname == "WARNING" for record in caplog.records)


def test_a_rate_that_does_not_parse_is_a_configuration_error(settings):
    from django.core.checks import run_checks

    settings.LENDER_RATE_LIMITS = {"address": "1500 a second", "key": "1500/10s"}
    errors = [error for error in run_checks() if error.id == "prosperas.E010"]
    assert len(errors) == 1 and "LENDER_RATE_LIMIT_PER_ADDRESS" in errors[0].msg


def test_each_count_expires_with_its_window_and_takes_back_exactly(settings):
    """The counting script itself, on the shared Redis: both counts of a request in one command,
    each with an expiry of its window plus the margin (a count that never expired would refuse a
    lender for good), and a take-back lowers only its own count."""
    from django.core.cache import caches

    from prosperas.inbound import limits

    settings.LENDER_RATE_LIMITS = {limits.ADDRESS: "5/10s", limits.KEY: "3/m"}
    address, key = an_address(), f"pk_{random.randrange(10**12)}"
    for _ in range(4):
        counted = limits.requests_count(endpoint="test-expiry", address=address, key=key)
    assert counted.counts[limits.ADDRESS].value == 4
    assert counted.counts[limits.KEY].value == 4
    counted.check(limits.ADDRESS)  # 4 of 5: allowed
    with pytest.raises(limits.InboundRefused) as refused:
        counted.check(limits.KEY)  # 4 of 3
    assert refused.value.status == 429

    cache = caches[settings.RATELIMIT_USE_CACHE]
    client = cache._cache.get_client(write=True)
    address_ttl = client.ttl(cache.make_and_validate_key(counted.counts[limits.ADDRESS].key))
    key_ttl = client.ttl(cache.make_and_validate_key(counted.counts[limits.KEY].key))
    assert 0 < address_ttl <= 10 + limits.EXPIRY_MARGIN_SECONDS
    assert 10 + limits.EXPIRY_MARGIN_SECONDS < key_ttl <= 60 + limits.EXPIRY_MARGIN_SECONDS

    counted.take_back(limits.KEY)
    again = limits.requests_count(endpoint="test-expiry", address=address, key=key)
    assert again.counts[limits.ADDRESS].value == 5
    assert again.counts[limits.KEY].value == 4  # 4, less the one taken back, plus this one
