"""The demo's email backend: messages are kept in the database (OutboxMessage, encrypted) and read
by staff in admin (Outbox), never printed. Django's console backend wrote every consumer's address
and message into the worker's log, which is personal data in a log.

For DEBUG only (the default there, `EMAIL_BACKEND` in settings); production sends through its
configured backend (SMTP), and a system check warns when this one is set outside DEBUG.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from apps.leads.models import OutboxMessage

BACKEND_PATH = settings.OUTBOX_EMAIL_BACKEND  # this class's path, named once in settings


class OutboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        kept = [outbox_message_from(message) for message in email_messages if message.recipients()]
        OutboxMessage.objects.bulk_create(kept)
        return len(kept)


def outbox_message_from(message: EmailMessage) -> OutboxMessage:
    html = ""
    if isinstance(message, EmailMultiAlternatives):
        html = next((content for content, mimetype in message.alternatives if mimetype == "text/html"), "")
    text, html = (message.body, html) if message.content_subtype != "html" else ("", message.body)
    return OutboxMessage(sender=message.from_email, recipients=", ".join(message.recipients()),
                         subject=message.subject, text_body=text, html_body=html)
