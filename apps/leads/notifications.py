"""Telling the consumer, by email in their language, that the lender changed their application's
status (a postback with effect "applied").

One LeadNotification row per lead, channel and status (a unique constraint), created in the
postback's own transaction by `lead_notification_prepare` and sent by a task after commit
(`lead_status_notify`). The row, not the broker, says what is due: a notification whose task
was lost stays pending and the sweep sends it. Sending happens under the row's lock and marks it
sent in the same transaction, so a task that runs twice sends once; only a worker killed between
the mail server's answer and the commit can send a second copy (at least once, not exactly once).

Logs and task arguments carry ids and statuses only: the address is read from the lead here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from apps.leads.consents import consent_receipt
from apps.leads.enqueue import LEAD_STATUS_NOTIFY, task_send
from apps.leads.models import CONSENT_RECEIPT, CONSENT_REVOKED, Lead, LeadNotification, LeadStatus
from apps.leads.resume_links import resume_link_create
from apps.leads.selectors import journey_has_ended

logger = logging.getLogger(__name__)

# The statuses a lender's postback can move a lead to; each is worth an email.
NOTIFIED_STATUSES = frozenset(
    {LeadStatus.PRE_APPROVED, LeadStatus.APPROVED, LeadStatus.DISBURSED, LeadStatus.REJECTED, LeadStatus.CANCELLED}
)
# Beyond statuses: the receipt of what the consumer accepted, and the confirmation of its revocation.
CONSENT_TOPICS = frozenset({CONSENT_RECEIPT, CONSENT_REVOKED})
# A lender's decision (or our failing to get one): worth an email only to a consumer who chose to
# leave the waiting page and be told (apps/leads/waiting.py).
DECISION_STATUSES = frozenset({LeadStatus.OFFERED, LeadStatus.NOT_ELIGIBLE, LeadStatus.DECISION_FAILED})
# Languages with templates under templates/email/; anything else gets the marketplace's own.
LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"


def notification_language(lead: Lead) -> str:
    language = (lead.language or "").split("-")[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def lead_notification_prepare(*, lead: Lead, status: str) -> bool:
    """Record that the consumer is due an email about `lead` reaching `status` (once: the row is
    unique per lead, channel and status). False when there is nothing to send: no address, or a
    status nobody is told about (a decision is told only to a consumer who asked). Call inside the transaction that moves the lead, so the row
    exists exactly when the move does. One INSERT ... ON CONFLICT DO NOTHING: no savepoint."""
    asked = status in DECISION_STATUSES and lead.result_email_requested_at is not None
    if not (status in NOTIFIED_STATUSES or status in CONSENT_TOPICS or asked) or not lead.email:
        return False
    LeadNotification.objects.bulk_create(
        [LeadNotification(lead=lead, channel=LeadNotification.Channel.EMAIL, lead_status=status,
                          language=notification_language(lead))],
        ignore_conflicts=True,
    )
    return True


def lead_status_notify_enqueue(*, lead_id: int, status: str) -> None:
    """Hand the email to a worker (ids only). Called once the move is committed; inside a web
    request it waits until the response has gone out, so the lender's answer is not held up by
    the broker (a slow or absent broker costs seconds of retries) and a web worker dying after
    the commit is less likely to leave a recorded postback unanswered. Lost either way (broker
    down, process killed), the notification stays pending for the sweep."""
    _after_response(lambda: task_send(LEAD_STATUS_NOTIFY, lead_id=lead_id, status=status))


# Callbacks waiting for the end of the current request, per thread (a WSGI server serves one
# request per thread at a time); None outside a request.
_pending = threading.local()


def _after_response(callback: Callable[[], object]) -> None:
    callbacks = getattr(_pending, "callbacks", None)
    if callbacks is None:
        _run_logged(callback)
    else:
        callbacks.append(callback)


def _request_started(**kwargs) -> None:
    _pending.callbacks = []


def _request_finished(**kwargs) -> None:
    """Django sends this when the server closes the response, after writing it."""
    callbacks, _pending.callbacks = getattr(_pending, "callbacks", None) or [], None
    for callback in callbacks:
        _run_logged(callback)


def _run_logged(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001 - the sweep sends what could not be enqueued
        logger.exception("could not enqueue a lead notification; the sweep will send it")


request_started.connect(_request_started, dispatch_uid="lead_notifications_request_started")
request_finished.connect(_request_finished, dispatch_uid="lead_notifications_request_finished")


def lead_status_notify(*, lead_id: int, status: str) -> LeadNotification | None:
    """Email the consumer that their application reached `status`, once. Returns the notification
    (state sent, or failed with the error's type so the task can retry), or None when there is
    nothing to send. Safe to call any number of times, from any number of processes."""
    lead = Lead.objects.select_related("lender", "product").filter(pk=lead_id).first()
    if lead is None:
        return None
    if not lead_notification_prepare(lead=lead, status=status):
        return None
    with transaction.atomic():
        notification = LeadNotification.objects.select_for_update().get(
            lead=lead, channel=LeadNotification.Channel.EMAIL, lead_status=status
        )
        if notification.state == LeadNotification.State.SENT:
            return notification  # another run got there first
        try:
            _email_send(lead=lead, status=status, language=notification.language)
        except Exception as error:  # noqa: BLE001 - any mail failure is recorded, then retried by the task
            # The type only: mail servers' messages quote the recipient's address.
            notification.state, notification.error = LeadNotification.State.FAILED, type(error).__name__
            notification.save(update_fields=["state", "error"])
            logger.warning("lead notification failed: lead=%s status=%s error=%s", lead_id, status,
                           type(error).__name__)
            return notification
        notification.state, notification.error, notification.sent_at = LeadNotification.State.SENT, "", timezone.now()
        notification.save(update_fields=["state", "error", "sent_at"])
    logger.info("lead notification sent: lead=%s status=%s", lead_id, status)
    return notification


def lead_notifications_due(*, older_than_seconds: int) -> list[tuple[int, str]]:
    """(lead id, status) of notifications still pending after `older_than_seconds`: their task
    was lost (broker down at commit, worker killed). Failed ones are left to staff."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        LeadNotification.objects.filter(state=LeadNotification.State.PENDING, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("lead_id", "lead_status")[:500]
    )


def _resume_url(lead: Lead, status: str) -> str:
    """A decision the consumer can act on (offers to choose, a failure to try again) comes with a
    one-time link that reopens the journey in the browser that opens the email
    (apps/leads/resume_links.py); each email its own link. None for anything else."""
    if status not in DECISION_STATUSES or journey_has_ended(lead) or lead.consent_revoked_at is not None:
        return ""
    token = resume_link_create(lead=lead)
    return settings.SITE_URL + reverse("flow:resume_link", kwargs={"token": token})


def _email_send(*, lead: Lead, status: str, language: str) -> None:
    context = {
        "status": status,
        "first_name": (lead.full_name.split() or [""])[0],
        "lender_name": lead.lender.name if lead.lender else "",
        "compare_mode": lead.compare_mode,
        # The private status page, which opens from any browser (a mail app, another phone): the
        # journey's own pages need the session of the browser the journey ran in.
        "status_url": settings.SITE_URL + reverse("flow:status", kwargs={"token": lead.public_token}),
        # The consent receipt page, which opens from any browser like the status page.
        "receipt_url": settings.SITE_URL + reverse("flow:consent", kwargs={"token": lead.public_token}),
        "resume_url": _resume_url(lead, status),
        "resume_hours": settings.FLOW_RESUME_LINK_HOURS,
    }
    template = status if status in CONSENT_TOPICS else "lead_status"
    with translation.override(language):
        context["product_name"] = lead.product.name if lead.product else ""  # in the email's language
        if status in CONSENT_TOPICS:
            context["receipt"] = consent_receipt(lead)
        subject = render_to_string(f"email/{template}.{language}.subject.txt", context)
        text = render_to_string(f"email/{template}.{language}.txt", context)
        html = render_to_string(f"email/{template}.{language}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[lead.email],
    )
    message.attach_alternative(html, "text/html")
    message.send()
