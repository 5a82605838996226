"""Postbacks: authenticating a lender's request and recording what it reports (DESIGN.md §5).

Two entry points for the endpoint, in the order it calls them:

- `postback_authenticate` works on the raw body bytes, before anything is parsed: it finds the
  lender, checks its address, verifies the credentials by the lender's mode (a table of
  verifiers), and only then records the nonce. Every refusal is counted.
- `postback_ingest` records the event, matched to a lead by exact click_id or not, and applies
  it to the lead through the leads app's transition table (a table of handlers per status).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.leads.models import Lead
from apps.leads.services import lead_postback_apply, postback_transition
from apps.lenders.models import Lender
from apps.postbacks import contract, signing
from apps.postbacks.models import PostbackAuthFailure, PostbackEvent, PostbackNonce
from apps.postbacks.selectors import click_id_lookalike

logger = logging.getLogger(__name__)

BEARER_PREFIX = "Bearer "


class PostbackAuthenticationError(Exception):
    """A request refused at authentication: `reason` is one of contract.AUTH_FAILURE_MESSAGES."""

    def __init__(self, reason: str, *, detail: str = "", lender: Lender | None = None) -> None:
        self.reason = reason
        self.message = detail or {**contract.AUTH_FAILURE_MESSAGES, **contract.TESTER_AUTH_FAILURE_MESSAGES}[reason]
        self.lender = lender
        super().__init__(f"{reason}: {self.message}")


@dataclass(frozen=True)
class PostbackData:
    """A validated postback body (the serializer's output); absent optional fields are blank."""

    click_id: str
    status: str
    event_id: str = ""
    occurred_at: datetime | None = None
    product_id: str = ""
    amount: Decimal | None = None
    currency: str = ""
    reason: str = ""
    lender_reference: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PostbackOutcome:
    event: PostbackEvent
    lead_status: str | None  # the lead's status after the event; None when unmatched

    @property
    def matched(self) -> bool:
        return self.event.effect != PostbackEvent.Effect.UNMATCHED

    @property
    def looks_like(self) -> list[str]:
        return self.event.looks_like.split(",") if self.event.looks_like else []


@dataclass(frozen=True)
class PostbackSimulation:
    """What the real endpoint would have done with a postback (the tester's answer)."""

    matched: bool
    effect: str
    is_repeat: bool
    lead_status_before: str | None  # None when unmatched
    lead_status: str | None  # after the event
    looks_like: list[str] = field(default_factory=list)


# --- Authentication ---------------------------------------------------------------------------


def postback_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None) -> Lender:
    """The lender that sent this request, or PostbackAuthenticationError (counted, then raised).

    `headers` must look names up case-insensitively (Django's request.headers does).
    """
    lender = None
    try:
        lender = _lender_identify(headers)
        _address_check(lender, client_ip)
        CREDENTIAL_VERIFIERS[lender.postback_auth](
            lender=lender, headers=headers, raw_body=raw_body, nonce_spend=_nonce_spend
        )
    except PostbackAuthenticationError as error:
        error.lender = error.lender or lender
        postback_auth_failure_record(lender=error.lender, reason=error.reason, source_ip=client_ip)
        raise
    return lender


def postback_test_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None) -> Lender:
    """The postback tester's authentication: every check of `postback_authenticate`, in the same
    order, for staging credentials only, recording nothing: refusals are not counted (the tester
    is where a lender gets them wrong on purpose) and nonces are spent in the tester's own set,
    so a request tried here can still be sent once to the real endpoint."""
    lender = _lender_identify(headers)
    if lender.environment != Lender.Environment.STAGING:
        raise PostbackAuthenticationError("not_a_staging_key", lender=lender)
    _address_check(lender, client_ip)
    CREDENTIAL_VERIFIERS[lender.postback_auth](
        lender=lender, headers=headers, raw_body=raw_body, nonce_spend=_tester_nonce_spend
    )
    return lender


def postback_auth_failure_record(*, lender: Lender | None, reason: str, source_ip: str | None) -> None:
    """Count a refusal for staff. Never the body: it came from someone we could not authenticate."""
    PostbackAuthFailure.objects.create(lender=lender, reason=reason, source_ip=source_ip)
    logger.info("postback refused: reason=%s lender=%s ip=%s", reason, lender.code if lender else "-", source_ip)


def _lender_identify(headers: Mapping[str, str]) -> Lender:
    """By X-Prosperas-Key when sent (hmac lenders, or api_key lenders that also send it), else by
    the bearer key's SHA-256 (api_key lenders), so no row's secret has to be decrypted to search."""
    public_key = headers.get(signing.HEADER_KEY, "")
    bearer = _bearer_token(headers)
    if public_key:
        lender = Lender.objects.filter(postback_key=public_key).first()
    elif bearer:
        lender = (
            Lender.objects.filter(postback_auth=Lender.PostbackAuth.API_KEY)
            .filter(postback_api_key_digest=Lender.api_key_digest(bearer))
            .first()
        )
    else:
        raise PostbackAuthenticationError(
            "missing_headers",
            detail=f"Send {signing.HEADER_KEY}, {signing.HEADER_TIMESTAMP}, {signing.HEADER_NONCE} and "
            f"{signing.HEADER_SIGNATURE} (or Authorization: Bearer <key> if your integration uses an API key).",
        )
    if lender is None:
        raise PostbackAuthenticationError("unknown_key")
    return lender


def _address_check(lender: Lender, client_ip: str | None) -> None:
    """The optional allowlist: exact addresses, no ranges (seed 004: "must match exactly")."""
    allowed = lender.ip_allowlist
    if not allowed:
        return
    if client_ip is None or ipaddress.ip_address(client_ip) not in _addresses(allowed):
        raise PostbackAuthenticationError("address_not_allowed", lender=lender)


def _addresses(entries: list[str]) -> set:
    addresses = set()
    for entry in entries:
        try:
            addresses.add(ipaddress.ip_address(entry))
        except ValueError:  # the model validates entries; a bad one saved around it matches nothing
            logger.warning("ignoring a postback allowlist entry that is not an IP address")
    return addresses


def _verify_hmac(
    *, lender: Lender, headers: Mapping[str, str], raw_body: bytes, nonce_spend: Callable[[Lender, str], None]
) -> None:
    """Timestamp within tolerance, well-formed nonce, signature by the current or previous secret,
    and only then the nonce is spent: an unauthenticated request cannot burn a lender's nonces."""
    names = (signing.HEADER_TIMESTAMP, signing.HEADER_NONCE, signing.HEADER_SIGNATURE)
    missing = [name for name in names if not headers.get(name)]
    if missing:
        raise PostbackAuthenticationError("missing_headers", detail=f"Missing header(s): {', '.join(missing)}.")
    timestamp, nonce, received = (headers[name] for name in names)
    _timestamp_check(timestamp)
    if not contract.NONCE_PATTERN.fullmatch(nonce):
        raise PostbackAuthenticationError("bad_nonce")
    if not contract.SIGNATURE_PATTERN.fullmatch(received):
        raise PostbackAuthenticationError(
            "bad_signature", detail=f"{signing.HEADER_SIGNATURE} must be 64 lowercase hexadecimal characters."
        )
    # Both secrets are always tried, so timing does not tell which one (if any) matched.
    matches = [
        signing.signatures_match(signing.signature(secret, timestamp, nonce, raw_body), received)
        for secret in _secrets(lender)
    ]
    if not any(matches):
        raise PostbackAuthenticationError("bad_signature")
    nonce_spend(lender, nonce)


def _verify_api_key(*, lender: Lender, headers: Mapping[str, str], raw_body: bytes, **kwargs) -> None:
    """For lenders that cannot sign: the bearer key compared in constant time with the secret
    (no nonce: nothing to spend)."""
    presented = _bearer_token(headers)
    if not presented:
        raise PostbackAuthenticationError(
            "missing_headers", detail="This integration authenticates with Authorization: Bearer <key>."
        )
    matches = [hmac.compare_digest(presented.encode(), secret.encode()) for secret in _secrets(lender)]
    if not any(matches):
        raise PostbackAuthenticationError("unknown_key", detail="The API key is not valid.")


# One verifier per authentication mode a lender can be onboarded with (Lender.PostbackAuth).
CREDENTIAL_VERIFIERS: dict[str, Callable[..., None]] = {
    Lender.PostbackAuth.HMAC: _verify_hmac,
    Lender.PostbackAuth.API_KEY: _verify_api_key,
}


def _secrets(lender: Lender) -> list[str]:
    """The secrets that verify now; refuses to run on a lender with none (STYLE.md)."""
    secrets = [secret for secret in (lender.postback_secret, lender.postback_secret_previous) if secret]
    if not secrets:
        logger.error("postback lender %s has no postback secret configured", lender.code)
        raise PostbackAuthenticationError(
            "unknown_key", detail="No postback credentials are configured for this key.", lender=lender
        )
    return secrets


def _bearer_token(headers: Mapping[str, str]) -> str:
    value = headers.get("Authorization", "")
    return value[len(BEARER_PREFIX):] if value.startswith(BEARER_PREFIX) else ""


def _timestamp_check(value: str) -> None:
    moment = contract.parse_offset_datetime(value)
    if moment is None:
        raise PostbackAuthenticationError("bad_timestamp")
    now = timezone.now()
    try:
        skew = abs((now - moment).total_seconds())
    except OverflowError:  # year 1 with a negative offset, and the like
        raise PostbackAuthenticationError("bad_timestamp") from None
    if skew > contract.timestamp_tolerance_seconds():
        raise PostbackAuthenticationError(
            "stale_timestamp",
            detail=f"{contract.AUTH_FAILURE_MESSAGES['stale_timestamp']} "
            f"Prosperas' time: {now.isoformat(timespec='seconds')}.",
        )


def _nonce_spend(lender: Lender, nonce: str, *, tester: bool = False) -> None:
    """A unique row per lender and nonce: the database refuses a second one, in any process."""
    try:
        with transaction.atomic():
            PostbackNonce.objects.create(lender=lender, nonce=nonce, tester=tester, seen_at=timezone.now())
    except IntegrityError:
        raise PostbackAuthenticationError("replayed_nonce", lender=lender) from None


def _tester_nonce_spend(lender: Lender, nonce: str) -> None:
    _nonce_spend(lender, nonce, tester=True)


def postback_nonces_purge(*, now: datetime | None = None) -> int:
    """Forget nonces older than the retention (twice the timestamp tolerance, checked at start-up):
    a replay that old is refused by its timestamp anyway."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS)
    deleted, _ = PostbackNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


# --- Ingesting an authenticated event ---------------------------------------------------------


@transaction.atomic
def postback_ingest(
    *, lender: Lender, data: PostbackData, raw_body: bytes, headers: dict[str, str], source_ip: str | None
) -> PostbackOutcome:
    """Record one accepted postback and apply it to its lead. Never deduplicates: every accepted
    request is a new row; a repeat of an earlier event is marked so reports count it once."""
    lead_id, status_before = _lead_lock(lender=lender, click_id=data.click_id)
    # A statement of its own, after the lock: one that waited for the lock must see the event
    # the lock's holder committed (PostgreSQL re-reads a locked row, not the rest of a statement).
    is_repeat = _is_repeat(lender=lender, lead_id=lead_id, data=data)
    occurred_at = data.occurred_at or timezone.now()
    looks_like: list[str] = []
    if lead_id is None:
        effect = PostbackEvent.Effect.UNMATCHED
        looks_like = click_id_lookalike(lender=lender, click_id=data.click_id)
    else:
        effect = STATUS_HANDLERS[data.status](lead_id=lead_id, data=data, occurred_at=occurred_at)
    event = PostbackEvent.objects.create(
        lender=lender, lead_id=lead_id, click_id=data.click_id, status=data.status, event_id=data.event_id,
        occurred_at=occurred_at, product_id=data.product_id, amount=data.amount, currency=data.currency,
        reason=data.reason, lender_reference=data.lender_reference, metadata=data.metadata,
        effect=effect, is_repeat=is_repeat, raw_body=raw_body, headers=headers, source_ip=source_ip,
        looks_like=",".join(looks_like),
    )
    # Under the lock nothing else moved the lead: "applied" moved it to the event's status.
    lead_status = data.status if effect == PostbackEvent.Effect.APPLIED else status_before
    return PostbackOutcome(event=event, lead_status=lead_status)


def postback_simulate(*, lender: Lender, data: PostbackData) -> PostbackSimulation:
    """The postback tester's dry run of `postback_ingest`: the same match, repeat check and
    transition table, read-only. Nothing is written and no lead is locked or moved."""
    lead = Lead.objects.filter(lender=lender, tracking_id=data.click_id).first()
    is_repeat = _is_repeat(lender=lender, lead_id=lead.pk if lead else None, data=data)
    if lead is None:
        looks_like = click_id_lookalike(lender=lender, click_id=data.click_id)
        return PostbackSimulation(matched=False, effect=PostbackEvent.Effect.UNMATCHED, is_repeat=is_repeat,
                                  lead_status_before=None, lead_status=None, looks_like=looks_like)
    occurred_at = data.occurred_at or timezone.now()
    # As lead_postback_apply decides it: events that occurred before the last move are older.
    newer = lead.lender_status_at is None or occurred_at >= lead.lender_status_at
    effect = postback_transition(current=lead.status, incoming=data.status, newer=newer)
    after = data.status if effect == PostbackEvent.Effect.APPLIED else lead.status
    return PostbackSimulation(matched=True, effect=effect, is_repeat=is_repeat, lead_status_before=lead.status,
                              lead_status=after)


def _lead_lock(*, lender: Lender, click_id: str) -> tuple[int, str] | tuple[None, None]:
    """The id and status of the lead with exactly this click_id (DESIGN.md §3: never trimmed,
    re-cased or parsed), locked, so two events of one lead are recorded one after the other and
    the second sees the first. Only two columns: the row is the hot path's, nothing to decrypt."""
    row = (Lead.objects.select_for_update().filter(lender=lender, tracking_id=click_id)
           .order_by().values_list("pk", "status")[:1])
    return row[0] if row else (None, None)


def _is_repeat(*, lender: Lender, lead_id: int | None, data: PostbackData) -> bool:
    """An earlier event of the same lead with the same status, or the same event_id when given.
    Unmatched events compare with the lender's earlier unmatched events of the same click_id."""
    earlier = (
        PostbackEvent.objects.filter(lead_id=lead_id)
        if lead_id is not None
        else PostbackEvent.objects.filter(lender=lender, lead=None, click_id=data.click_id)
    )
    same = Q(status=data.status) | Q(event_id=data.event_id) if data.event_id else Q(status=data.status)
    return earlier.filter(same).exists()


def _apply_progress(*, lead_id: int, data: PostbackData, occurred_at: datetime) -> str:
    """pre_approved, approved, disbursed: the timeline notes the amount when the lender gives one."""
    amount = f"{data.amount} {data.currency}" if data.amount is not None else ""
    return lead_postback_apply(lead_id=lead_id, status=data.status, occurred_at=occurred_at,
                               message=_timeline_note(data, amount))


def _apply_ending(*, lead_id: int, data: PostbackData, occurred_at: datetime) -> str:
    """rejected, cancelled: the timeline notes the lender's reason."""
    return lead_postback_apply(lead_id=lead_id, status=data.status, occurred_at=occurred_at,
                               message=_timeline_note(data, data.reason))


def _timeline_note(data: PostbackData, detail: str) -> str:
    parts = [f"event_id {data.event_id}" if data.event_id else "", detail]
    return "; ".join(part for part in parts if part)


# One handler per postback status (PostbackEvent.Status); every status must have one.
STATUS_HANDLERS: dict[str, Callable[..., str]] = {
    PostbackEvent.Status.PRE_APPROVED: _apply_progress,
    PostbackEvent.Status.APPROVED: _apply_progress,
    PostbackEvent.Status.DISBURSED: _apply_progress,
    PostbackEvent.Status.REJECTED: _apply_ending,
    PostbackEvent.Status.CANCELLED: _apply_ending,
}
