"""Postbacks: authenticating a lender's request and recording what it reports (DESIGN.md §5).

Two entry points for the endpoint, in the order it calls them:

- `postback_authenticate` works on the raw body bytes, before anything is parsed: it finds the
  lender, checks its address and verifies the credentials by the lender's mode (a table of
  verifiers). Every refusal is counted.
- `postback_ingest`, atomically: moves the lead through the leads app's transition table and
  records the event, matched to a lead by exact click_id or not, with its nonce: the event's
  insert refuses a nonce the lender already used (unique per lender), so a nonce is spent
  exactly when its event is recorded and a replay undoes everything (refused and counted). On
  PostgreSQL this is one statement (rows.event_record_moving_lead); elsewhere, a transaction
  of two (the lead's UPDATE, which locks it, then the event's INSERT).

What a move sets off (the consumer's email, the campaign's result charge) is not done while the
lender waits: each such event is recorded with `followed_up_at` empty, and
`postback_follow_ups_run` (a beat task every POSTBACK_FOLLOW_UP_INTERVAL_SECONDS) does it, once.
The lender's answer, the lead's status and the consumer's status page are current at once; the
email and the ledger follow within seconds. This keeps the endpoint's work, and the time it
holds the lead's lock, to a few statements (bench/postbacks.py measures it), and a slow mail
server, broker or campaign row never delays or fails a lender's postback.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.leads.models import Lead
from apps.leads.services import (
    lead_postback_apply,
    lead_postback_follow_up,
    postback_move_params,
    postback_move_sql,
    postback_transition,
)
from apps.lenders.models import Lender
from apps.postbacks import contract, rows, signing
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
        self.on_kept_copy = False  # decided on this process's copy of the lender (rows.LENDER_CACHE_SECONDS)
        super().__init__(f"{reason}: {self.message}")


class LenderChanged(Exception):
    """The lender's credentials changed after this process read them and before the event was
    recorded: nothing was recorded; authenticate the request again on the lender as stored now."""


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
    """What postback_ingest recorded: the event's id and what it did."""

    event_pk: int
    effect: str
    is_repeat: bool
    lead_status: str | None  # the lead's status after the event; None when unmatched
    looks_like: list[str] = field(default_factory=list)  # unmatched: what the click_id looks like

    @property
    def matched(self) -> bool:
        return self.effect != PostbackEvent.Effect.UNMATCHED

    @functools.cached_property
    def event(self) -> PostbackEvent:
        """The event as recorded (read on first access: the endpoint itself never needs it)."""
        return PostbackEvent.objects.get(pk=self.event_pk)


@dataclass(frozen=True)
class Authenticated:
    """Who sent a request whose credentials verified, and the nonce it carried ("" for api_key
    lenders: nothing to spend). The nonce is spent by `postback_ingest` with the event.
    `lender_stored` is set when the lender came from this process's kept copy: its credential
    columns as read, which `postback_ingest` writes only while they still hold."""

    lender: Lender
    nonce: str
    lender_stored: tuple[str, ...] | None = None


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


def postback_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None,
                          fresh: bool = False) -> Authenticated:
    """The lender that sent this request and its nonce, or PostbackAuthenticationError (counted,
    then raised). The nonce is checked for replay when it is spent, by `postback_ingest`.

    The lender may come from this process's recent copy (rows.lender_for_authentication) unless
    `fresh`. A request refused on that copy is checked again on the lender as stored now, so a
    refusal is always decided on current credentials; one accepted on it is recorded only if they
    are still current (Authenticated.lender_stored).

    `headers` must look names up case-insensitively (Django's request.headers does).
    """
    try:
        try:
            return _authenticate(headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=fresh)
        except PostbackAuthenticationError as error:
            if not error.on_kept_copy:
                raise
            return _authenticate(headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=True)
    except PostbackAuthenticationError as error:
        postback_auth_failure_record(lender=error.lender, reason=error.reason, source_ip=client_ip)
        raise


def _authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None, fresh: bool) -> Authenticated:
    read = None
    try:
        read = _lender_identify(headers, fresh=fresh)
        _address_check(read.lender, client_ip)
        nonce = CREDENTIAL_VERIFIERS[read.lender.postback_auth](lender=read.lender, headers=headers, raw_body=raw_body)
    except PostbackAuthenticationError as error:
        if read is not None:
            error.lender, error.on_kept_copy = error.lender or read.lender, read.cached
        raise
    return Authenticated(lender=read.lender, nonce=nonce, lender_stored=read.stored if read.cached else None)


def signed_request_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None) -> Lender:
    """`postback_authenticate` for the other signed endpoints (the product data API), which record
    no event to spend the nonce with: it is spent here, at once, and a replay is refused and
    counted. Returns the lender with all its fields (these endpoints use more than authentication's)."""
    authenticated = postback_authenticate(headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=True)
    lender = authenticated.lender
    if authenticated.nonce:
        with transaction.atomic():
            if not _nonce_spend(lender=lender, nonce=authenticated.nonce):
                postback_auth_failure_record(lender=lender, reason="replayed_nonce", source_ip=client_ip)
                raise PostbackAuthenticationError("replayed_nonce", lender=lender)
    lender.refresh_from_db()
    return lender


def postback_test_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None) -> Authenticated:
    """The postback tester's authentication: every check of `postback_authenticate`, in the same
    order, for staging credentials only, recording nothing: refusals are not counted (the tester
    is where a lender gets them wrong on purpose) and nonces are spent at once in the tester's
    own set, so a request tried here can still be sent once to the real endpoint."""
    lender = _lender_identify(headers, fresh=True).lender
    if lender.environment != Lender.Environment.STAGING:
        raise PostbackAuthenticationError("not_a_staging_key", lender=lender)
    _address_check(lender, client_ip)
    nonce = CREDENTIAL_VERIFIERS[lender.postback_auth](lender=lender, headers=headers, raw_body=raw_body)
    if nonce and not _nonce_spend(lender=lender, nonce=nonce, tester=True):
        raise PostbackAuthenticationError("replayed_nonce", lender=lender)
    return Authenticated(lender=lender, nonce="")


def postback_auth_failure_record(*, lender: Lender | None, reason: str, source_ip: str | None) -> None:
    """Count a refusal for staff. Never the body: it came from someone we could not authenticate."""
    PostbackAuthFailure.objects.create(lender=lender, reason=reason, source_ip=source_ip)
    logger.info("postback refused: reason=%s lender=%s ip=%s", reason, lender.code if lender else "-", source_ip)


def _lender_identify(headers: Mapping[str, str], *, fresh: bool) -> rows.LenderAsRead:
    """By X-Prosperas-Key when sent (hmac lenders, or api_key lenders that also send it), else by
    the bearer key's SHA-256 (api_key lenders), so no row's secret has to be decrypted to search."""
    public_key = headers.get(signing.HEADER_KEY, "")
    bearer = _bearer_token(headers)
    if public_key:
        lender = rows.lender_for_authentication(column="postback_key", value=public_key, fresh=fresh)
    elif bearer:
        lender = rows.lender_for_authentication(column="postback_api_key_digest", value=Lender.api_key_digest(bearer),
                                                api_key_only=True, fresh=fresh)
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


def _verify_hmac(*, lender: Lender, headers: Mapping[str, str], raw_body: bytes) -> str:
    """Timestamp within tolerance, well-formed nonce, signature by the current or previous secret.
    Returns the nonce, spent only with the event: an unauthenticated request cannot burn it."""
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
    return nonce


def _verify_api_key(*, lender: Lender, headers: Mapping[str, str], raw_body: bytes) -> str:
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
    return ""


# One verifier per authentication mode a lender can be onboarded with (Lender.PostbackAuth).
CREDENTIAL_VERIFIERS: dict[str, Callable[..., str]] = {
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


def _nonce_spend(*, lender: Lender, nonce: str, tester: bool = False) -> bool:
    """True when this nonce was new; False for a replay. A unique row per lender, use and nonce:
    the database refuses a second one, in any process."""
    return rows.nonce_spend(lender_id=lender.pk, nonce=nonce, tester=tester, seen_at=timezone.now())


def postback_nonces_purge(*, now: datetime | None = None) -> int:
    """Forget nonces older than the retention (twice the timestamp tolerance, checked at start-up):
    a replay that old is refused by its timestamp anyway."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS)
    deleted, _ = PostbackNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


# --- Ingesting an authenticated event ---------------------------------------------------------


class NonceReplayed(Exception):
    """Raised inside the ingest transaction to roll it back: nothing of a replay is kept."""


def postback_ingest(
    *, lender: Lender, data: PostbackData, raw_body: bytes, headers: dict[str, str], source_ip: str | None,
    nonce: str = "", lender_stored: tuple[str, ...] | None = None,
) -> PostbackOutcome:
    """Record one accepted postback with its nonce and move its lead, atomically. Never
    deduplicates: every accepted request is a new row; a repeat of an earlier event is marked so
    reports count it once. A replayed nonce records nothing, is counted, and raises
    PostbackAuthenticationError("replayed_nonce"). With `lender_stored` (Authenticated's), records
    nothing and raises LenderChanged once the lender's credentials are no longer those."""
    now = timezone.now()
    # The event's values by attname, as the ORM would save them (received_at: auto_now_add).
    event = {
        "lender_id": lender.pk, "click_id": data.click_id, "status": data.status, "event_id": data.event_id,
        "occurred_at": data.occurred_at or now, "received_at": now, "product_id": data.product_id,
        "amount": data.amount, "currency": data.currency, "reason": data.reason,
        "lender_reference": data.lender_reference, "metadata": data.metadata, "looks_like": "", "raw_body": raw_body,
        "headers": headers, "source_ip": source_ip, "nonce": nonce,
    }
    try:
        if rows.single_statement_ingest():
            return _ingest_in_one_statement(lender, event, lender_stored)
        return _ingest_in_transaction(lender, event, lender_stored)
    except NonceReplayed:
        postback_auth_failure_record(lender=lender, reason="replayed_nonce", source_ip=source_ip)
        raise PostbackAuthenticationError("replayed_nonce", lender=lender) from None


# How many times the one-statement ingest is run again when another postback of the same lead
# committed under it, before the transaction (which waits its turn on the lead's lock) does it.
STALE_ATTEMPTS = 3


def _ingest_in_one_statement(lender: Lender, event: dict, lender_stored: tuple[str, ...] | None) -> PostbackOutcome:
    """PostgreSQL: the lead's move and the event's insert in one statement (rows.event_record_moving_lead)."""
    move_sql = postback_move_sql(event["status"])
    move_params = postback_move_params(incoming=event["status"], occurred_at=event["occurred_at"],
                                       now=event["received_at"])
    for _attempt in range(STALE_ATTEMPTS):
        recorded = rows.event_record_moving_lead(event, move_sql=move_sql, move_params=move_params,
                                                 lender_stored=lender_stored)
        if recorded == rows.REPLAYED:
            raise NonceReplayed
        if recorded == rows.LENDER_CHANGED:
            raise LenderChanged
        if recorded != rows.STALE:
            break
    else:
        return _ingest_in_transaction(lender, event, lender_stored)
    looks_like = []
    if recorded.lead_id is None:
        # The hint for the lender, written just after: it is only read by people and the answer.
        looks_like = click_id_lookalike(lender=lender, click_id=event["click_id"])
        if looks_like:
            PostbackEvent.objects.filter(pk=recorded.event_pk).update(looks_like=",".join(looks_like))
    return PostbackOutcome(event_pk=recorded.event_pk, effect=recorded.effect, is_repeat=recorded.is_repeat,
                           lead_status=recorded.lead_status, looks_like=looks_like)


@transaction.atomic
def _ingest_in_transaction(lender: Lender, event: dict, lender_stored: tuple[str, ...] | None) -> PostbackOutcome:
    """Any database: the lead's move (which locks it until the end of the transaction), then the
    event's insert, which decides is_repeat once the lock is held."""
    if lender_stored is not None and not rows.lender_unchanged(lender_id=lender.pk, stored=lender_stored):
        raise LenderChanged
    # The lead with exactly this click_id (DESIGN.md §3: never trimmed, re-cased or parsed).
    move = lead_postback_apply(lender_id=lender.pk, tracking_id=event["click_id"], incoming=event["status"],
                               occurred_at=event["occurred_at"])
    looks_like = []
    if move is None:
        lead_id, effect, lead_status = None, PostbackEvent.Effect.UNMATCHED, None
        looks_like = click_id_lookalike(lender=lender, click_id=event["click_id"])
    else:
        lead_id, effect, lead_status = move.lead_id, move.effect, move.status
    # Only a move sets something off (the consumer's email, a result's charge): the others are
    # recorded as already followed up, so the runner's index holds only work to do.
    followed_up_at = None if effect == PostbackEvent.Effect.APPLIED else timezone.now()
    recorded = rows.event_insert({**event, "lead_id": lead_id, "effect": effect, "looks_like": ",".join(looks_like),
                                  "followed_up_at": followed_up_at})  # is_repeat decided by the INSERT, after the lock
    if recorded is None:
        raise NonceReplayed  # rolls back the lead's move with it
    event_pk, is_repeat = recorded
    return PostbackOutcome(event_pk=event_pk, effect=effect, is_repeat=is_repeat, lead_status=lead_status,
                           looks_like=looks_like)


# --- Following up on applied events, off the lender's request ----------------------------------


def postback_follow_ups_run(*, limit: int = 500) -> int:
    """Do what the applied events recorded since the last run set off (the consumer's email, the
    campaign's result charge), oldest first, each once; returns how many were done. Safe to run
    in several workers at once: an event another runner holds is skipped, one it finished is
    not done again. An event whose follow-up fails stays due (its transaction rolled back) and is
    tried again next run; it never holds up the events after it."""
    due = (PostbackEvent.objects.filter(followed_up_at__isnull=True).order_by("id")
           .values_list("pk", flat=True)[:limit])
    done = 0
    for event_id in list(due):
        try:
            done += _follow_up(event_id)
        except Exception:  # noqa: BLE001 - logged with the event's id (no personal data), retried next run
            logger.exception("postback event %s: follow-up failed; it stays due", event_id)
    return done


@transaction.atomic
def _follow_up(event_id: int) -> bool:
    event = (PostbackEvent.objects.select_for_update(skip_locked=True)
             .filter(pk=event_id, followed_up_at__isnull=True).only("lead_id", "status").first())
    if event is None:
        return False  # another runner holds it, or has done it
    lead_postback_follow_up(lead_id=event.lead_id, status=event.status)
    PostbackEvent.objects.filter(pk=event_id).update(followed_up_at=timezone.now())
    return True


def postback_simulate(*, lender: Lender, data: PostbackData) -> PostbackSimulation:
    """The postback tester's dry run of `postback_ingest`: the same match, repeat check and
    transition table, read-only. Nothing is written and no lead is locked or moved."""
    lead = Lead.objects.filter(lender=lender, tracking_id=data.click_id).first()
    is_repeat = rows.event_exists_like({"lender_id": lender.pk, "lead_id": lead.pk if lead else None,
                                        "click_id": data.click_id, "status": data.status, "event_id": data.event_id})
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
