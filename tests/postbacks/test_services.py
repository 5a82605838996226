"""postback_ingest and postback_authenticate called directly, and the nonce purge."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.leads.models import LeadStatus
from apps.postbacks import signing
from apps.postbacks.models import PostbackEvent, PostbackNonce
from apps.postbacks.services import (
    STATUS_HANDLERS,
    PostbackAuthenticationError,
    PostbackData,
    postback_authenticate,
    postback_ingest,
    postback_nonces_purge,
)
from tests.factories import LenderFactory


def ingest(lender, **fields):
    return postback_ingest(lender=lender, data=PostbackData(**fields), raw_body=b"{}", headers={}, source_ip=None)


def test_every_postback_status_has_a_handler():
    assert set(STATUS_HANDLERS) == set(PostbackEvent.Status.values)


def test_ingest_never_deduplicates_and_marks_the_second_as_a_repeat(lender, lead):
    first = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e1")
    second = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e1")
    assert first.event.pk != second.event.pk
    assert (first.event.is_repeat, second.event.is_repeat) == (False, True)


def test_an_earlier_event_id_under_another_status_marks_a_repeat(lender, lead):
    ingest(lender, click_id=lead.tracking_id, status="pre_approved", event_id="e1")
    assert ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e1").event.is_repeat is True


def test_unmatched_events_of_the_same_click_id_are_repeats_of_each_other(lender):
    first = ingest(lender, click_id="no-such-journey", status="approved")
    second = ingest(lender, click_id="no-such-journey", status="approved")
    other = ingest(lender, click_id="another-unknown", status="approved")
    assert (first.matched, first.lead_status) == (False, None)
    assert [first.event.is_repeat, second.event.is_repeat, other.event.is_repeat] == [False, True, False]


def test_an_unmatched_event_does_not_touch_any_lead(lender, lead):
    ingest(lender, click_id=lead.tracking_id.upper(), status="approved")
    lead.refresh_from_db()
    assert (lead.status, lead.needs_review) == (LeadStatus.NEW, False)


def test_a_late_rejection_that_happened_before_the_last_move_contradicts(lender, lead):
    now = timezone.now()
    ingest(lender, click_id=lead.tracking_id, status="approved", occurred_at=now)
    outcome = ingest(lender, click_id=lead.tracking_id, status="rejected", occurred_at=now - timedelta(hours=1))
    assert (outcome.event.effect, outcome.lead_status) == ("contradicts", "approved")


def test_the_full_path_pre_approved_approved_disbursed_moves_the_lead_each_time(lender, lead):
    effects = [ingest(lender, click_id=lead.tracking_id, status=status).event.effect
               for status in ("pre_approved", "approved", "disbursed")]
    lead.refresh_from_db()
    assert effects == ["applied"] * 3
    assert lead.status == LeadStatus.DISBURSED


def test_authenticate_looks_headers_up_as_given_and_returns_the_lender(lender):
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    assert postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1") == lender


def test_authenticate_raises_with_the_reason_and_the_lender(lender):
    headers = signing.signed_headers(key=lender.postback_key, secret="wrong", raw_body=b"{}")
    with pytest.raises(PostbackAuthenticationError) as raised:
        postback_authenticate(headers=headers, raw_body=b"{}", client_ip=None)
    assert (raised.value.reason, raised.value.lender) == ("bad_signature", lender)


def test_purge_forgets_nonces_older_than_the_retention_only(db, settings):
    lender = LenderFactory()
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    retention = timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS)
    PostbackNonce.objects.create(lender=lender, nonce="old-nonce", seen_at=now - retention - timedelta(seconds=1))
    PostbackNonce.objects.create(lender=lender, nonce="kept-nonce", seen_at=now - retention + timedelta(seconds=1))

    assert postback_nonces_purge(now=now) == 1
    assert list(PostbackNonce.objects.values_list("nonce", flat=True)) == ["kept-nonce"]
