"""The postback credentials the platform issues to lenders: issue, rotate (with an overlap
window), revoke, record their last use, and hand a secret over once through an expiring link.

A credential belongs to one Lender row, so to one environment (staging and production are two
rows). The postback endpoint verifies with the lender's own columns (postback_secret,
postback_secret_previous, postback_secret_previous_until, postback_api_key_digest: one indexed
read by the public key, apps.lenders.signed_requests); `credentials_project` writes them from the
live credential rows, in the same transaction as every change here, and nothing else does.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.lenders.models import CredentialHandover, Lender, LenderCredential, new_postback_secret, secret_digest

logger = logging.getLogger(__name__)

# A credential's last use is written at most this often by one process: not a write per postback.
LAST_USED_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class IssuedCredential:
    credential: LenderCredential
    secret: str  # shown once, to whoever issued it or through a handover link; never stored in clear


def live_credentials(lender: Lender, *, now: datetime | None = None) -> list[LenderCredential]:
    """The credentials that verify now, newest first."""
    now = now or timezone.now()
    return [credential for credential in lender.postback_credentials.filter(revoked_at__isnull=True)
            if credential.expires_at is None or credential.expires_at > now]


@transaction.atomic
def credential_issue(*, lender: Lender, issued_by: str, overlap: timedelta | None = None) -> IssuedCredential:
    """A new secret for `lender`. The newest live one it replaces keeps verifying for `overlap`
    (LENDER_CREDENTIAL_OVERLAP_HOURS by default; zero ends it at once); any older one stops now,
    so at most two verify at a time."""
    lender = Lender.objects.select_for_update().get(pk=lender.pk)
    now = timezone.now()
    overlap = timedelta(hours=settings.LENDER_CREDENTIAL_OVERLAP_HOURS) if overlap is None else overlap
    for index, credential in enumerate(live_credentials(lender, now=now)):
        until = now + overlap if index == 0 else now
        if credential.expires_at is None or credential.expires_at > until:
            credential.expires_at = until
            credential.save(update_fields=["expires_at"])
    secret = new_postback_secret()
    credential = LenderCredential.objects.create(lender=lender, secret=secret, digest=secret_digest(secret),
                                                 issued_by=issued_by[:160], created_at=now)
    credentials_project(lender)
    logger.info("postback credential issued: lender=%s credential=%s by=%s", lender.code, credential.fingerprint,
                issued_by)
    return IssuedCredential(credential=credential, secret=secret)


@transaction.atomic
def credential_revoke(*, credential: LenderCredential, revoked_by: str) -> LenderCredential:
    """Stop a credential verifying now (a leaked secret, or ending a rotation's overlap early).
    Revoking twice changes nothing."""
    lender = Lender.objects.select_for_update().get(pk=credential.lender_id)
    credential = LenderCredential.objects.get(pk=credential.pk)
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
        credentials_project(lender)
        logger.info("postback credential revoked: lender=%s credential=%s by=%s", lender.code, credential.fingerprint,
                    revoked_by)
    return credential


def credentials_project(lender: Lender) -> None:
    """Write the lender's verification columns from its live credentials (the caller holds the
    lender's row lock): the newest verifies, the one before it until it expires."""
    live = live_credentials(lender)
    current = live[0] if live else None
    previous = live[1] if len(live) > 1 else None
    lender.postback_secret = current.secret if current else ""
    lender.postback_secret_previous = previous.secret if previous else ""
    lender.postback_secret_previous_until = previous.expires_at if previous else None
    api_key_mode = lender.postback_auth == Lender.PostbackAuth.API_KEY and current is not None
    lender.postback_api_key_digest = current.digest if api_key_mode else ""
    lender.save(update_fields=["postback_secret", "postback_secret_previous", "postback_secret_previous_until",
                               "postback_api_key_digest", "updated_at"])


def credential_used(*, lender_id: int, secret: str) -> None:
    """Record that `secret` of the lender verified a request: one UPDATE of the lender's row
    with that digest. The postback endpoint calls it at most once a minute per lender and process
    (apps.lenders.signed_requests.credential_use_record, LAST_USED_EVERY_SECONDS)."""
    LenderCredential.objects.filter(lender_id=lender_id, digest=secret_digest(secret)).update(
        last_used_at=timezone.now())


# --- One-time handover links -------------------------------------------------------------------


def handover_create(*, credential: LenderCredential, created_by: str) -> str:
    """A one-time link token for the credential's secret, valid LENDER_HANDOVER_HOURS. Only its
    digest is stored: the token is shown once to whoever creates it, to send to the lender."""
    token = secrets.token_urlsafe(32)
    CredentialHandover.objects.create(
        credential=credential, token_digest=secret_digest(token), created_by=created_by[:160],
        expires_at=timezone.now() + timedelta(hours=settings.LENDER_HANDOVER_HOURS),
    )
    return token


def handover_open(*, token: str) -> IssuedCredential | None:
    """The credential and its secret, the first time an unexpired link is opened; None after
    (opened, expired, unknown, or the credential revoked since). Claimed by one conditional
    UPDATE, so two clicks at once show it once. A secret that no longer verifies is not shown."""
    now = timezone.now()
    still_verifies = Q(credential__expires_at__isnull=True) | Q(credential__expires_at__gt=now)
    claimed = CredentialHandover.objects.filter(
        still_verifies, token_digest=secret_digest(token), opened_at__isnull=True, expires_at__gt=now,
        credential__revoked_at__isnull=True,
    ).update(opened_at=now)
    if not claimed:
        return None
    handover = CredentialHandover.objects.select_related("credential__lender").get(token_digest=secret_digest(token))
    return IssuedCredential(credential=handover.credential, secret=handover.credential.secret)
