"""The demo's emails go to an outbox staff read in admin, encrypted, never into a log."""

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from apps.leads.models import LeadNotification, LeadStatus, OutboxMessage
from apps.leads.notifications import lead_status_notify
from apps.postbacks.services import PostbackData, postback_ingest
from tests.conftest import ROOT, start_worker, stop_worker
from tests.factories import LeadFactory
from tests.support import wait_until

EMAIL = "ana.outbox@example.com"
OUTBOX = "apps.leads.outbox.OutboxEmailBackend"


@pytest.fixture
def lead(db):
    return LeadFactory(status=LeadStatus.APPROVED, email=EMAIL, full_name="Ana María Pérez", language="es",
                       listing__product__lender__name="Banco Andino")


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-tests-only"))
    return client


def test_the_outbox_keeps_each_message_encrypted(lead, settings):
    settings.EMAIL_BACKEND = OUTBOX

    assert lead_status_notify(lead_id=lead.pk, status="approved").state == "sent"

    [message] = OutboxMessage.objects.all()
    assert (message.recipients, message.subject) == (EMAIL, "¡Tu crédito con Banco Andino fue aprobado!")
    assert "Hola Ana:" in message.text_body and 'lang="es"' in message.html_body
    with connection.cursor() as cursor:
        cursor.execute("SELECT recipients, subject, text_body, html_body FROM leads_outboxmessage")
        stored = " ".join(cursor.fetchone())
    # Whole phrases: a short word such as "Ana" turns up by chance in a random token's base64.
    assert EMAIL not in stored and "Hola Ana:" not in stored and "Banco Andino" not in stored


def test_staff_read_the_outbox_in_admin_with_the_address_masked_and_the_message_rendered(lead, settings, staff_client):
    settings.EMAIL_BACKEND = OUTBOX
    lead_status_notify(lead_id=lead.pk, status="approved")
    message = OutboxMessage.objects.get()

    listing = staff_client.get(reverse("admin:leads_outboxmessage_changelist")).content.decode()
    page = staff_client.get(reverse("admin:leads_outboxmessage_change", args=[message.pk])).content.decode()

    assert "a•••@example.com" in listing and "Banco Andino fue aprobado" in listing and EMAIL not in listing
    assert "Hola Ana:" in page and "<strong>Banco Andino</strong>" in page and EMAIL not in page
    assert 'style="' not in page.split('class="outbox-html"')[1]  # sanitized: the admin's policy allows no inline style
    assert 'name="_save"' not in page  # read-only
    assert staff_client.get(reverse("admin:leads_outboxmessage_add")).status_code == 403


def test_the_outbox_is_not_listed_when_emails_are_really_sent(db, settings, staff_client):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    index = staff_client.get(reverse("admin:index")).content.decode()

    assert "/admin/leads/outboxmessage/" not in index


def test_the_demos_worker_puts_emails_in_the_outbox_and_none_in_its_log(broker_isolation, transactional_db):
    """The demo's settings (DEBUG, no EMAIL_BACKEND given), in a real worker and its beat."""
    name = f"testworker-outbox-{uuid.uuid4().hex[:6]}"
    worker = start_worker({**broker_isolation, "DEBUG": "true", "PROSPERAS_TESTING": "false",
                           "POSTBACK_FOLLOW_UP_INTERVAL_SECONDS": "0.5"}, name=name, beat=True)
    try:
        lead = LeadFactory(status=LeadStatus.HANDED_OFF, email=EMAIL, full_name="Ana María Pérez", language="es")
        postback_ingest(lender=lead.lender, data=PostbackData(click_id=lead.tracking_id, status="approved"),
                        raw_body=b"{}", headers={}, source_ip=None)
        wait_until(lambda: LeadNotification.objects.filter(state="sent").count() == 1)
    finally:
        stop_worker(worker)

    assert [message.recipients for message in OutboxMessage.objects.all()] == [EMAIL]
    log = (ROOT / "var" / f"{name}.log").read_text()
    assert "lead_status_notify" in log
    assert EMAIL not in log and "Ana" not in log


@pytest.mark.parametrize("backend", [OUTBOX, "django.core.mail.backends.console.EmailBackend"])
def test_a_backend_that_keeps_or_prints_emails_is_flagged_outside_debug(settings, backend):
    from prosperas.checks import check_email_backend_in_production

    settings.EMAIL_BACKEND, settings.DEBUG, settings.TESTING = backend, False, False
    assert [warning.id for warning in check_email_backend_in_production(None)] == ["prosperas.W003"]
    settings.DEBUG = True
    assert check_email_backend_in_production(None) == []
