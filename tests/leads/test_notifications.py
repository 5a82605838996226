"""Consumer emails on each real status change: language, once per status, failures recorded
without personal data, enqueued after commit with ids only, sent by a real worker."""

import json
import logging
import re
import socket
import uuid
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core import mail
from playwright.sync_api import expect
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone

from apps.leads.models import LeadNotification, LeadStatus
from apps.leads.notifications import (
    lead_notification_prepare,
    lead_notifications_due,
    lead_status_notify,
    lead_status_notify_enqueue,
)
from apps.postbacks import contract
from apps.postbacks.services import PostbackData, postback_follow_ups_run, postback_ingest
from prosperas.inbound import signing
from tests.conftest import ROOT, start_worker, stop_worker
from tests.factories import LeadFactory
from tests.support import wait_until

EMAIL = "ana.perez@example.com"


@pytest.fixture
def lead(db):
    return LeadFactory(status=LeadStatus.APPROVED, email=EMAIL, full_name="Ana María Pérez", language="es",
                       listing__product__lender__name="Banco Andino", listing__product__name="Crédito libre inversión")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ingest(lead, status):
    return postback_ingest(lender=lead.lender, data=PostbackData(click_id=lead.tracking_id, status=status),
                           raw_body=b"{}", headers={}, source_ip=None)


def test_the_consumer_gets_a_spanish_email_with_a_link_to_their_application(lead, settings):
    settings.SITE_URL = "https://prosperas.example"

    notification = lead_status_notify(lead_id=lead.pk, status="approved")

    assert (notification.state, notification.language, notification.error) == ("sent", "es", "")
    assert notification.sent_at is not None
    [email] = mail.outbox
    assert email.to == [EMAIL]
    assert email.subject == "¡Tu crédito con Banco Andino fue aprobado!"
    assert "Hola Ana:" in email.body and "Crédito libre inversión" in email.body
    assert f"https://prosperas.example/j/{lead.public_token}/status" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and f"/j/{lead.public_token}/status" in html and 'lang="es"' in html


def test_the_emails_link_opens_the_status_page_in_a_browser_that_never_saw_the_journey(
        transactional_db, live_server, settings, page, screenshot):
    lead = LeadFactory(status=LeadStatus.APPROVED, email=EMAIL, full_name="Ana María Pérez", language="es",
                       listing__product__lender__name="Banco Andino")
    settings.SITE_URL = live_server.url
    lead_status_notify(lead_id=lead.pk, status="approved")
    [link] = re.findall(r"https?://\S+/status", mail.outbox[0].body)

    page.goto(link)  # a fresh browser context: no session, no cookie of the journey

    expect(page.locator("main")).to_contain_text("Banco Andino")
    expect(page.locator("body")).not_to_contain_text("venció")
    assert page.url == link
    screenshot()


@pytest.mark.parametrize(("language", "subject"), [
    ("en", "Banco Andino disbursed your credit"),
    ("en-US", "Banco Andino disbursed your credit"),
    ("pt", "Banco Andino desembolsó tu crédito"),
])
def test_the_email_is_in_the_leads_language_or_else_spanish(lead, language, subject):
    lead.language = language
    lead.save()
    lead_status_notify(lead_id=lead.pk, status="disbursed")
    assert mail.outbox[0].subject == subject


@pytest.mark.parametrize("status", ["pre_approved", "approved", "disbursed", "rejected", "cancelled"])
@pytest.mark.parametrize("language", ["es", "en"])
def test_every_notified_status_has_its_own_words_in_both_languages(lead, status, language):
    lead.language = language
    lead.save()
    lead_status_notify(lead_id=lead.pk, status=status)
    [email] = mail.outbox
    assert "Banco Andino" in email.subject and email.body.strip()
    assert "{%" not in email.body and "&amp;" not in email.subject


def test_the_email_names_the_product_in_the_consumers_language(lead):
    from apps.products.models import Product

    Product.objects.filter(pk=lead.product_id).update(name_en="Personal loan")
    lead.language = "en"
    lead.save()

    lead_status_notify(lead_id=lead.pk, status="approved")

    [email] = mail.outbox
    assert "Personal loan" in email.body and "Crédito libre inversión" not in email.body


def test_notifying_twice_sends_one_email(lead):
    first = lead_status_notify(lead_id=lead.pk, status="approved")
    second = lead_status_notify(lead_id=lead.pk, status="approved")
    assert first.pk == second.pk
    assert len(mail.outbox) == 1
    assert LeadNotification.objects.count() == 1


@pytest.mark.parametrize("status", ["handed_off", "submitted", "not_eligible"])
def test_statuses_the_lender_does_not_report_send_nothing(lead, status):
    assert lead_status_notify(lead_id=lead.pk, status=status) is None
    assert not mail.outbox and not LeadNotification.objects.exists()


def test_a_lead_without_an_email_address_sends_nothing(db):
    lead = LeadFactory(status=LeadStatus.APPROVED)
    assert lead_status_notify(lead_id=lead.pk, status="approved") is None
    assert not LeadNotification.objects.exists()


def test_a_mail_server_failure_is_recorded_without_personal_data_and_retried_later(lead, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", closed_port(), False

    with caplog.at_level(logging.DEBUG):
        failed = lead_status_notify(lead_id=lead.pk, status="approved")

    assert (failed.state, failed.error) == ("failed", "ConnectionRefusedError")
    assert EMAIL not in caplog.text and "Ana" not in caplog.text
    assert f"lead={lead.pk}" in caplog.text

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = lead_status_notify(lead_id=lead.pk, status="approved")
    assert (sent.pk, sent.state, sent.error) == (failed.pk, "sent", "")
    assert len(mail.outbox) == 1


def test_a_pending_notification_left_behind_is_due_for_the_sweep(lead):
    for status in ("approved", "disbursed", "pre_approved"):
        assert lead_notification_prepare(lead=lead, status=status) is True
    notifications = LeadNotification.objects.filter(lead=lead)
    notifications.filter(lead_status="approved").update(created_at=timezone.now() - timedelta(minutes=30))
    notifications.filter(lead_status="pre_approved").update(state="sent",
                                                            created_at=timezone.now() - timedelta(hours=1))

    assert lead_notifications_due(older_than_seconds=600) == [(lead.pk, "approved")]
    assert notifications.get(lead_status="disbursed").state == "pending"  # too recent: its task may still run


def test_preparing_twice_keeps_one_row(lead):
    assert lead_notification_prepare(lead=lead, status="approved") is True
    assert lead_notification_prepare(lead=lead, status="approved") is True
    assert LeadNotification.objects.count() == 1


# --- Wiring: the postback that moves the lead -----------------------------------------------------


def test_a_postback_that_moves_the_lead_emails_after_its_follow_up_commits(db, django_capture_on_commit_callbacks,
                                                                          eager_tasks):
    lead = LeadFactory(status=LeadStatus.HANDED_OFF, email=EMAIL, language="en")
    ingest(lead, "approved")
    assert not LeadNotification.objects.exists()  # nothing while the lender waits

    with django_capture_on_commit_callbacks() as callbacks:
        assert postback_follow_ups_run() == 1
        assert LeadNotification.objects.get().state == "pending"  # written by the follow-up
        assert not mail.outbox  # nothing sent before the commit

    assert len(callbacks) == 1
    callbacks[0]()
    assert mail.outbox[0].subject == "Your credit with " + lead.lender.name + " was approved!"
    assert LeadNotification.objects.get().state == "sent"


@pytest.mark.parametrize(("status", "days_ago"), [("approved", 0), ("pre_approved", 0), ("rejected", 1)],
                         ids=["repeat", "lower", "contradicts"])
def test_a_postback_that_does_not_move_the_lead_sends_nothing(db, django_capture_on_commit_callbacks, status,
                                                              days_ago):
    lead = LeadFactory(status=LeadStatus.APPROVED, email=EMAIL, lender_status_at=timezone.now())
    data = PostbackData(click_id=lead.tracking_id, status=status,
                        occurred_at=timezone.now() - timedelta(days=days_ago))

    with django_capture_on_commit_callbacks() as callbacks:
        outcome = postback_ingest(lender=lead.lender, data=data, raw_body=b"{}", headers={}, source_ip=None)
        assert postback_follow_ups_run() == 0

    assert outcome.event.effect in ("no_change", "contradicts")
    assert callbacks == []
    assert not LeadNotification.objects.exists()


@pytest.fixture
def request_signals_without_connection_closing():
    """Send request_started / request_finished as a server does, minus closing the database
    connection (which would end the test's transaction), as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_inside_a_request_the_task_is_enqueued_once_the_response_is_sent(
    lead, eager_tasks, request_signals_without_connection_closing
):
    lead_notification_prepare(lead=lead, status="approved")

    request_started.send(sender=None, environ={})
    lead_status_notify_enqueue(lead_id=lead.pk, status="approved")
    assert not mail.outbox  # the response has not gone out yet
    request_finished.send(sender=None)

    assert len(mail.outbox) == 1
    assert LeadNotification.objects.get().state == "sent"


def test_a_signed_postback_over_the_endpoint_emails_the_consumer(transactional_db, client, eager_tasks):
    lead = LeadFactory(status=LeadStatus.HANDED_OFF, email=EMAIL, language="es")
    lender = lead.lender
    raw_body = json.dumps({"click_id": lead.tracking_id, "status": "approved"}).encode()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)

    response = client.post(contract.PATH, data=raw_body, content_type=headers.pop("Content-Type"), headers=headers)

    assert response.status_code == 202
    assert mail.outbox == []  # the lender is answered first
    postback_follow_ups_run()
    assert [email.to for email in mail.outbox] == [[EMAIL]]


@pytest.mark.worker
def test_a_real_worker_and_its_beat_email_the_consumer_once_per_change(broker_isolation, transactional_db, tmp_path):
    outbox = tmp_path / "outbox"
    name = f"testworker-mail-{uuid.uuid4().hex[:6]}"
    worker = start_worker({**broker_isolation, "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                           "EMAIL_FILE_PATH": str(outbox), "POSTBACK_FOLLOW_UP_INTERVAL_SECONDS": "0.5"},
                          name=name, beat=True)
    try:
        lead = LeadFactory(status=LeadStatus.HANDED_OFF, email=EMAIL, language="es")
        ingest(lead, "approved")
        ingest(lead, "approved")  # a repeat: no second email
        ingest(lead, "disbursed")

        wait_until(lambda: LeadNotification.objects.filter(state="sent").count() == 2)
    finally:
        stop_worker(worker)

    messages = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in outbox.iterdir()]
    assert sorted(message["Subject"] for message in messages) == [
        f"{lead.lender.name} desembolsó tu crédito", f"¡Tu crédito con {lead.lender.name} fue aprobado!"]
    assert all(message["To"] == EMAIL for message in messages)
    worker_log = (ROOT / "var" / f"{name}.log").read_text()
    assert "lead_status_notify_task" in worker_log
    assert EMAIL not in worker_log and "public_token" not in worker_log
