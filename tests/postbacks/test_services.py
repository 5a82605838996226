"""postback_ingest and postback_authenticate called directly, and the nonce purge."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.leads.models import LeadStatus
from apps.leads.services import postback_transition
from apps.postbacks import services, signing
from apps.postbacks.models import PostbackAuthFailure, PostbackEvent, PostbackNonce
from apps.postbacks.services import (
    PostbackAuthenticationError,
    PostbackData,
    postback_authenticate,
    postback_follow_ups_run,
    postback_ingest,
    postback_nonces_purge,
)
from tests.factories import LeadFactory, LenderFactory


def ingest(lender, nonce="", **fields):
    return postback_ingest(lender=lender, data=PostbackData(**fields), raw_body=b"{}", headers={}, source_ip=None,
                           nonce=nonce)


def test_every_postback_status_moves_a_handed_off_lead():
    assert {status: postback_transition(current=LeadStatus.HANDED_OFF, incoming=status, newer=True)
            for status in PostbackEvent.Status.values} == dict.fromkeys(PostbackEvent.Status.values, "applied")


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


def test_authenticate_looks_headers_up_as_given_and_returns_the_lender_and_nonce(lender):
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    authenticated = postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1")
    assert (authenticated.lender, authenticated.nonce) == (lender, headers[signing.HEADER_NONCE])
    assert not PostbackNonce.objects.exists()  # spent with the event, by postback_ingest


def test_the_lender_is_loaded_without_its_adapter_credentials(lender, django_assert_num_queries):
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    with django_assert_num_queries(1):
        authenticated = postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1")
    assert "credentials" in authenticated.lender.get_deferred_fields()


def test_ingest_spends_the_nonce_with_the_event_and_refuses_a_replay_recording_nothing(lender, lead):
    first = ingest(lender, click_id=lead.tracking_id, status="approved", nonce="nonce-0001")
    with pytest.raises(PostbackAuthenticationError) as raised:
        ingest(lender, click_id=lead.tracking_id, status="disbursed", nonce="nonce-0001")
    lead.refresh_from_db()
    assert raised.value.reason == "replayed_nonce"
    assert list(PostbackEvent.objects.values_list("pk", flat=True)) == [first.event.pk]
    assert lead.status == LeadStatus.APPROVED
    assert list(PostbackAuthFailure.objects.values_list("reason", flat=True)) == ["replayed_nonce"]


def test_only_events_that_moved_the_lead_are_due_a_follow_up(lender, lead):
    applied = ingest(lender, click_id=lead.tracking_id, status="approved")
    repeat = ingest(lender, click_id=lead.tracking_id, status="approved")
    unmatched = ingest(lender, click_id="no-such-journey", status="approved")
    due = set(PostbackEvent.objects.filter(followed_up_at__isnull=True).values_list("pk", flat=True))
    assert due == {applied.event.pk}
    assert repeat.event.pk not in due and unmatched.event.pk not in due


def test_follow_ups_email_the_consumer_once_however_often_they_run(lender, mailoutbox, eager_tasks,
                                                                  django_capture_on_commit_callbacks):
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF, email="ana@example.com")
    ingest(lender, click_id=lead.tracking_id, status="approved")
    assert mailoutbox == []  # not while the lender waits

    with django_capture_on_commit_callbacks(execute=True):
        assert postback_follow_ups_run() == 1
        assert postback_follow_ups_run() == 0
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [lead.email]
    assert not PostbackEvent.objects.filter(followed_up_at__isnull=True).exists()


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


def test_a_follow_up_that_fails_stays_due_and_does_not_hold_up_the_others(lender, monkeypatch, caplog):
    first, second = (LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF) for _ in range(2))
    failing = ingest(lender, click_id=first.tracking_id, status="approved").event
    following = ingest(lender, click_id=second.tracking_id, status="approved").event
    real_follow_up = services.lead_postback_follow_up

    def mail_server_down_for_the_first(*, lead_id, status):
        if lead_id == first.pk:
            raise ConnectionRefusedError("smtp down")
        real_follow_up(lead_id=lead_id, status=status)

    monkeypatch.setattr(services, "lead_postback_follow_up", mail_server_down_for_the_first)  # a fault injected

    assert postback_follow_ups_run() == 1
    due = set(PostbackEvent.objects.filter(followed_up_at__isnull=True).values_list("pk", flat=True))
    assert due == {failing.pk} and following.pk not in due
    assert f"postback event {failing.pk}: follow-up failed" in caplog.text
    monkeypatch.setattr(services, "lead_postback_follow_up", real_follow_up)
    assert postback_follow_ups_run() == 1  # the next run does it
