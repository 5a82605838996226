"""The lender portal's writes: invitations, accepting one (an account and its memberships), the
second factor's enrolment, and the console's test postback."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.lenders.models import Lender, secret_digest
from apps.partners.models import PartnerInvitation, PartnerMembership
from prosperas.inbound import signing

logger = logging.getLogger(__name__)

CONSOLE_TIMEOUT = (3.05, 10)  # connect, read: our own endpoint answers in milliseconds


class InvitationInvalid(Exception):
    """The link was used, expired or never existed."""


def invitation_create(*, email: str, lenders: list[Lender], invited_by, accept_url_for) -> PartnerInvitation:
    """Invite `email` to see `lenders` (rows: environments). The link's token exists only in the
    email (its digest is stored); `accept_url_for(token)` builds the absolute link."""
    token = secrets.token_urlsafe(32)
    invitation = PartnerInvitation.objects.create(
        email=email.strip().lower(), token_digest=secret_digest(token), invited_by=invited_by,
        expires_at=timezone.now() + timedelta(hours=settings.PARTNER_INVITATION_HOURS),
    )
    invitation.lenders.set(lenders)
    names = ", ".join(sorted({lender.name for lender in lenders}))
    link = accept_url_for(token)
    transaction.on_commit(lambda: send_mail(
        subject="Your access to the Prosperas lender portal",
        message=(f"You have been invited to the Prosperas lender portal for {names}.\n\n"
                 f"Open this link to set your password and your second factor (it works once and expires in "
                 f"{settings.PARTNER_INVITATION_HOURS} hours):\n{link}\n\n"
                 "If you did not expect this email, ignore it."),
        from_email=None, recipient_list=[invitation.email],
    ))
    logger.info("partner invitation created: invitation=%s lenders=%s", invitation.pk, [lender.code for lender in lenders])
    return invitation


def invitation_open(token: str) -> PartnerInvitation:
    invitation = PartnerInvitation.objects.filter(token_digest=secret_digest(token)).first()
    if invitation is None or not invitation.is_open:
        raise InvitationInvalid
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, password: str):
    """Claim the invitation once (a conditional UPDATE: a double submit accepts it once), make or
    find the account by email, set its password, and link it to the invited lenders."""
    now = timezone.now()
    claimed = PartnerInvitation.objects.filter(
        token_digest=secret_digest(token), accepted_at__isnull=True, expires_at__gt=now).update(accepted_at=now)
    if not claimed:
        raise InvitationInvalid
    invitation = PartnerInvitation.objects.get(token_digest=secret_digest(token))
    user, created = get_user_model().objects.get_or_create(
        username=invitation.email, defaults={"email": invitation.email, "is_staff": False})
    if user.is_staff or user.is_superuser:
        raise InvitationInvalid  # staff sign in to admin; a portal link never resets their password
    user.set_password(password)
    user.save(update_fields=["password"])
    for lender in invitation.lenders.all():
        PartnerMembership.objects.get_or_create(user=user, lender=lender)
    invitation.user = user
    invitation.save(update_fields=["user"])
    logger.info("partner invitation accepted: invitation=%s user=%s new=%s", invitation.pk, user.pk, created)
    return user


def totp_device_for_enrolment(user) -> TOTPDevice:
    """The user's unconfirmed portal device (made once, so a reload shows the same QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name="partners").first()
    return device or TOTPDevice.objects.create(user=user, name="partners", confirmed=False)


def totp_enrol_confirm(*, device: TOTPDevice, code: str) -> bool:
    if not device.verify_token(code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


# --- The console: a test postback to staging ---------------------------------------------------


@dataclass(frozen=True)
class ConsoleResult:
    status_code: int
    body: dict | str
    sent: dict


def console_postback_send(*, lender: Lender, body: dict, endpoint_url: str) -> ConsoleResult:
    """Sign `body` with the staging lender's current secret, here on the server (the secret never
    reaches the browser), and POST it to the real postback endpoint over HTTP, as the lender would."""
    if lender.environment != Lender.Environment.STAGING:
        raise ValueError("The console sends to staging only.")
    lender = Lender.objects.get(pk=lender.pk)  # the secret as stored now
    if not lender.postback_secret:
        raise ValueError("This environment has no live secret: issue one first.")
    raw_body = json.dumps(body, separators=(",", ":")).encode()
    if lender.postback_auth == Lender.PostbackAuth.API_KEY:
        headers = {"Authorization": f"Bearer {lender.postback_secret}"}
    else:
        headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    headers["Content-Type"] = "application/json"
    response = requests.post(endpoint_url, data=raw_body, headers=headers, timeout=CONSOLE_TIMEOUT)
    try:
        answer: dict | str = response.json()
    except ValueError:
        answer = response.text[:2000]
    logger.info("console postback sent: lender=%s answer=%s", lender.code, response.status_code)
    return ConsoleResult(status_code=response.status_code, body=answer, sent=body)
