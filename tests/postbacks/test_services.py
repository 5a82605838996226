"""postback_ingest and postback_authenticate called directly, and the nonce purge."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.leads.models import LeadStatus
from apps.leads.transitions import postback_transition
from apps.lenders import signed_requests
from apps.lenders.models import PostbackAuthFailure, PostbackNonce
from apps.postbacks import rows, services
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import (
    PostbackData,
    postback_authenticate,
    postback_follow_ups_run,
    postback_ingest,
    postback_nonces_purge,
)
from prosperas.inbound import signing
from prosperas.inbound.refusals import AuthenticationRefused
from tests.factories import LeadFactory, LenderFactory


def ingest(lender, nonce="", lender_stored=None, **fields):
    return postback_ingest(lender=lender, data=PostbackData(**fields), raw_body=b"{}", headers={}, source_ip=None,
                           nonce=nonce, lender_stored=lender_stored)


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
    with django_assert_num_queries(2):  # the lender, and its credential's last use (once a minute)
        authenticated = postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1")
    assert "credentials" in authenticated.lender.get_deferred_fields()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    with django_assert_num_queries(1):  # within the minute: the lender only (fresh, so read again)
        postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1", fresh=True)


def test_ingest_spends_the_nonce_with_the_event_and_refuses_a_replay_recording_nothing(lender, lead):
    first = ingest(lender, click_id=lead.tracking_id, status="approved", nonce="nonce-0001")
    with pytest.raises(AuthenticationRefused) as raised:
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
    with pytest.raises(AuthenticationRefused) as raised:
        postback_authenticate(headers=headers, raw_body=b"{}", client_ip=None)
    assert (raised.value.reason, raised.value.sender) == ("bad_signature", lender)


def test_purge_forgets_nonces_older_than_the_retention_only(db, settings):
    lender = LenderFactory()
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    retention = timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS)
    PostbackNonce.objects.create(lender=lender, nonce="old-nonce", seen_at=now - retention - timedelta(seconds=1))
    PostbackNonce.objects.create(lender=lender, nonce="kept-nonce", seen_at=now - retention + timedelta(seconds=1))

    assert postback_nonces_purge(now=now) == 1
    assert list(PostbackNonce.objects.values_list("nonce", flat=True)) == ["kept-nonce"]


def test_a_follow_up_that_fails_stays_due_and_does_not_hold_up_the_others(lender, monkeypatch, caplog, settings):
    settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = 0.01  # its next try, 20 ms later
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
    assert PostbackEvent.objects.get(pk=failing.pk).follow_up_attempts == 1
    monkeypatch.setattr(services, "lead_postback_follow_up", real_follow_up)
    time.sleep(0.05)
    assert postback_follow_ups_run() == 1  # the next run after its delay does it


# --- The one-statement ingest (rows.event_record_moving_lead) ----------------------------------


def test_one_statement_ingest_moves_and_records_in_one_round_trip(transactional_db, django_assert_num_queries):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
    with django_assert_num_queries(1):
        outcome = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e1", nonce="nonce-0001")
    event = PostbackEvent.objects.get()
    assert (outcome.event.pk, outcome.lead_status, outcome.event.effect) == (event.pk, "approved", "applied")
    assert (event.lead_id, event.effect, event.is_repeat, event.nonce) == (lead.pk, "applied", False, "nonce-0001")
    assert event.followed_up_at is None  # due: it moved the lead
    repeat = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e2")
    assert (repeat.event.effect, repeat.event.is_repeat, repeat.lead_status) == ("no_change", True, "approved")
    assert PostbackEvent.objects.get(pk=repeat.event.pk).followed_up_at is not None


def test_one_statement_replay_outside_any_transaction_undoes_the_move(transactional_db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
    ingest(lender, click_id=lead.tracking_id, status="pre_approved", nonce="nonce-0001")
    with pytest.raises(AuthenticationRefused):
        ingest(lender, click_id=lead.tracking_id, status="disbursed", nonce="nonce-0001")
    lead.refresh_from_db()
    assert (lead.status, PostbackEvent.objects.count()) == (LeadStatus.PRE_APPROVED, 1)


def test_an_unmatched_event_gets_its_lookalike_hint_in_one_statement_too(transactional_db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    outcome = ingest(lender, click_id=lead.tracking_id.upper(), status="approved")
    assert outcome.lead_status is None and outcome.event.effect == "unmatched"
    assert PostbackEvent.objects.get().looks_like == outcome.event.looks_like == "letter_case"


def test_a_postback_whose_lead_another_one_moved_meanwhile_is_run_again_and_sees_it(transactional_db, monkeypatch):
    """The statement reads the lead in its snapshot, then waits for the lead's lock held by another
    postback of the same status. When that one commits, the row read is outdated and the snapshot
    misses its event: the statement records nothing, is run again, and marks the event a repeat."""
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
    runs = []
    record = rows.event_record_moving_lead
    monkeypatch.setattr(rows, "event_record_moving_lead",
                        lambda *args, **kwargs: runs.append(record(*args, **kwargs)) or runs[-1])
    holding, release, outcomes = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                outcomes["first"] = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e1")
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def second():
        try:
            outcomes["second"] = ingest(lender, click_id=lead.tracking_id, status="approved", event_id="e2")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(timeout=30)
    threads[1].start()
    _wait_for_a_lock_wait()
    release.set()
    for thread in threads:
        thread.join(timeout=30)

    assert runs[0] != rows.STALE and runs[1:] == [rows.STALE, runs[2]] and isinstance(runs[2], rows.Recorded)
    assert (outcomes["first"].event.is_repeat, outcomes["second"].event.is_repeat) == (False, True)
    assert (outcomes["first"].event.effect, outcomes["second"].event.effect) == ("applied", "no_change")
    assert PostbackEvent.objects.filter(lead=lead, is_repeat=False).count() == 1


def _wait_for_a_lock_wait() -> None:
    """Until a session of this database waits on a lock (the second postback, on the lead's row)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("the second postback never waited for the lead's lock")


def test_a_lead_moved_under_every_attempt_is_recorded_by_the_transaction(transactional_db, monkeypatch):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
    monkeypatch.setattr(rows, "event_record_moving_lead", lambda *args, **kwargs: rows.STALE)
    outcome = ingest(lender, click_id=lead.tracking_id, status="approved", nonce="nonce-0001")
    lead.refresh_from_db()
    assert (outcome.event.effect, outcome.lead_status, lead.status) == ("applied", "approved", "approved")
    assert PostbackEvent.objects.get().nonce == "nonce-0001"


# --- The lenders a process keeps (signed_requests.lender_for_authentication) ---------------------


def test_a_kept_lender_saves_the_read_and_each_caller_gets_its_own_copy(lender, django_assert_num_queries):
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    first = postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1", fresh=True)
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=b"{}")
    with django_assert_num_queries(0):
        second = postback_authenticate(headers=headers, raw_body=b"{}", client_ip="127.0.0.1")
    assert first.lender_stored is None  # read by this request: nothing to guard
    assert second.lender_stored is not None and second.lender is not first.lender
    assert second.lender.pk == lender.pk and "credentials" in second.lender.get_deferred_fields()


@pytest.mark.parametrize("one_statement", [True, False], ids=["one_statement", "transaction"])
def test_an_event_is_not_recorded_once_the_lender_it_was_authenticated_on_changed(lender, lead, monkeypatch,
                                                                                 one_statement):
    if not one_statement:  # the transaction, as after the lead changed under every statement
        monkeypatch.setattr(rows, "event_record_moving_lead", lambda *args, **kwargs: rows.STALE)
    read = signed_requests.lender_for_authentication(column="postback_key", value=lender.postback_key, fresh=True)
    ingest(lender, click_id=lead.tracking_id, status="pre_approved", lender_stored=read.stored)  # unchanged: recorded
    lender.postback_ip_allowlist = "10.0.0.1"
    lender.save()
    with pytest.raises(services.LenderChanged):
        ingest(lender, click_id=lead.tracking_id, status="approved", lender_stored=read.stored)
    lead.refresh_from_db()
    assert (lead.status, PostbackEvent.objects.count()) == (LeadStatus.PRE_APPROVED, 1)
