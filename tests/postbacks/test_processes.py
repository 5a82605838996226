"""The endpoint served by two separate gunicorn processes on PostgreSQL: a nonce is
refused across processes, and 50 postbacks for one lead at once leave it consistent, followed up
once each by runners racing each other."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.db import connections

from apps.leads.models import Lead, LeadNotification, LeadStatus
from apps.lenders.credentials import credential_issue
from apps.lenders.models import PostbackAuthFailure
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import postback_follow_ups_run
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory
from tests.postbacks.conftest import URL, body_bytes

pytestmark = pytest.mark.django_db(transaction=True)

LADDER = ["pre_approved", "approved", "disbursed"]


def post(web, raw_body: bytes, headers: dict) -> requests.Response:
    return requests.post(web.url + URL, data=raw_body, headers=headers, timeout=30)


def _follow_ups_in_own_connection() -> int:
    try:
        return postback_follow_ups_run()
    finally:
        connections.close_all()  # this thread's connection


def test_a_nonce_replayed_on_another_web_process_is_refused(two_web_processes):
    first_process, second_process = two_web_processes
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved"})
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)

    accepted = post(first_process, raw_body, headers)
    replayed = post(second_process, raw_body, headers)

    assert first_process.process.pid != second_process.process.pid
    assert accepted.status_code == 202, accepted.text
    assert (replayed.status_code, replayed.json()["error"]) == (401, "replayed_nonce")
    assert PostbackEvent.objects.count() == 1
    assert list(PostbackAuthFailure.objects.values_list("lender", "reason")) == [(lender.pk, "replayed_nonce")]


def test_fifty_postbacks_for_one_lead_at_once_leave_it_consistent(two_web_processes):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF, email="ana@example.com")
    # The ladder in a scrambled order, the highest sent only a few times.
    statuses = [LADDER[index % 3] for index in range(50)]
    requests_to_send = []
    for index, status in enumerate(statuses):
        raw_body = body_bytes({"click_id": lead.tracking_id, "status": status, "event_id": f"evt-{index}"})
        headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
        requests_to_send.append((two_web_processes[index % 2], raw_body, headers))
    start = threading.Barrier(50)

    def send(request):
        start.wait(timeout=30)
        return post(*request)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, requests_to_send))

    assert sorted({response.status_code for response in responses}) == [202], [r.text for r in responses]
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DISBURSED
    events = PostbackEvent.objects.filter(lead=lead)
    assert events.count() == 50
    first_of_each = events.filter(is_repeat=False)
    assert sorted(first_of_each.values_list("status", flat=True)) == sorted(LADDER)
    applied = list(events.filter(effect="applied").order_by("id").values_list("status", flat=True))
    # Each move went up the ladder, never down, and ended at the top.
    assert applied == sorted(applied, key=LADDER.index) and applied[-1] == "disbursed"
    assert events.filter(effect="contradicts").count() == 0
    # Four follow-up runners at once, as several workers' beat runs could be.
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = sum(pool.map(lambda _: _follow_ups_in_own_connection(), range(4)))
    assert done == len(applied)
    assert not events.filter(followed_up_at__isnull=True).exists()
    # One notification per real change, never two for the same status.
    assert sorted(LeadNotification.objects.filter(lead=lead).values_list("lead_status", flat=True)) == sorted(applied)
    assert Lead.objects.get(pk=lead.pk).needs_review is False


def test_a_change_by_staff_applies_to_the_next_request_in_every_process(two_web_processes):
    """Each process keeps the lenders it authenticated; a change of secret or allowlist by staff
    still applies at once: a request accepted on the kept copy is recorded only if the lender is
    unchanged, and one refused on it is decided again on the lender as stored."""
    first_process, second_process = two_web_processes
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    old_secret = lender.postback_secret

    def send(web, status, secret):
        raw_body = body_bytes({"click_id": lead.tracking_id, "status": status})
        return post(web, raw_body, signing.signed_headers(key=lender.postback_key, secret=secret, raw_body=raw_body))

    # Both processes now keep the lender with its first secret.
    assert [send(web, "pre_approved", old_secret).status_code for web in two_web_processes] == [202, 202]
    credential_issue(lender=lender, issued_by="test", overlap=timedelta(0))  # no overlap: the old one stops now
    lender.refresh_from_db()

    refused = send(first_process, "approved", old_secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")
    assert send(second_process, "approved", lender.postback_secret).status_code == 202

    lender.postback_ip_allowlist = "10.0.0.1"
    lender.save()
    for web in two_web_processes:
        answer = send(web, "disbursed", lender.postback_secret)
        assert (answer.status_code, answer.json()["error"]) == (401, "address_not_allowed")

    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.APPROVED
    assert PostbackEvent.objects.filter(lender=lender).count() == 3
    # Counted per reason (and key, address, hour): the two address refusals in one row.
    assert sorted(PostbackAuthFailure.objects.filter(lender=lender).values_list("reason", "count")) == [
        ("address_not_allowed", 2), ("bad_signature", 1)]


def _chunked(raw_body: bytes, size: int = 1000):
    """A body sent with Transfer-Encoding: chunked (requests does so for a generator)."""
    return (raw_body[start:start + size] for start in range(0, len(raw_body), size))


def test_a_chunked_postback_is_read_whole_and_accepted(two_web_processes):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved", "metadata": {"note": "x" * 3000}})
    headers = {**signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body),
               "Content-Type": "application/json"}

    answer = requests.post(two_web_processes[0].url + URL, data=_chunked(raw_body), headers=headers, timeout=30)

    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 202, answer.text
    assert PostbackEvent.objects.filter(lead=lead).count() == 1


def test_a_chunked_body_over_the_limit_is_refused_as_too_large(two_web_processes):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    raw_body = body_bytes({"click_id": lead.tracking_id, "status": "approved", "metadata": {"note": "x" * 70_000}})
    headers = {**signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body),
               "Content-Type": "application/json"}

    answer = requests.post(two_web_processes[0].url + URL, data=_chunked(raw_body), headers=headers, timeout=30)

    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    assert not PostbackEvent.objects.filter(lead=lead).exists()
