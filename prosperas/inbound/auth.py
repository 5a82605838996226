"""Authenticating a signed request on its raw body, against the credentials a key store gives.

The key store belongs to the app that keeps the senders' credentials (for lenders:
apps.lenders.signed_requests.LENDER_KEYS): it finds a sender by its public key or by its bearer
key, says which secrets verify now, and keeps the nonces and the refusals. This module owns the
rules, the same for every endpoint: the order of the checks, the verifier of each mode (a table),
the timestamp tolerance, the nonce's form, constant-time comparisons, and deciding a refusal
again on fresh credentials when it was decided on a process's kept copy.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from prosperas.inbound import signing
from prosperas.inbound.refusals import AUTH_FAILURE_MESSAGES, AuthenticationRefused

logger = logging.getLogger(__name__)

HMAC, API_KEY = "hmac", "api_key"


@dataclass(frozen=True)
class Credentials:
    """A sender as its key store read it: what authentication decides by."""

    sender: Any  # the key store's own object (a Lender), handed back to the endpoint
    name: str  # for logs
    mode: str  # HMAC or API_KEY: the verifier (VERIFIERS)
    secrets: tuple[str, ...]  # those that verify now (two during a rotation); empty: none configured
    allowlist: tuple[str, ...] = ()  # exact addresses; empty allows any
    kept: bool = False  # read from a process's kept copy (decided again fresh when refused)
    stored: Any = None  # the key store's token of the credentials as read (a write guard's values)


class KeyStore(Protocol):
    def by_public_key(self, public_key: str, *, fresh: bool) -> Credentials | None: ...

    def by_api_key(self, api_key: str, *, fresh: bool) -> Credentials | None: ...

    def refusal_record(self, *, sender: Any, reason: str, client_ip: str | None, key: str = "",
                       headers: Mapping[str, str] | None = None, raw_body: bytes = b"") -> None: ...

    def nonce_spend(self, *, sender: Any, nonce: str, tester: bool = False) -> bool: ...


@dataclass(frozen=True)
class Verified:
    """Whose credentials verified, and the nonce the request carried ("" in api_key mode)."""

    credentials: Credentials
    nonce: str

    @property
    def sender(self) -> Any:
        return self.credentials.sender


def timestamp_tolerance_seconds() -> int:
    return settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS


def authenticate(store: KeyStore, *, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None,
                 fresh: bool = False) -> Verified:
    """Who sent this request and its nonce (not spent: the endpoint spends it, with what it records
    or at once, spend_nonce), or AuthenticationRefused, counted by the store then raised.

    Credentials may come from the store's kept copy unless `fresh`: a request refused on such a
    copy is decided again on the credentials as stored now, so a refusal is always decided on
    current ones. `headers` must look names up case-insensitively (Django's request.headers does).
    """
    try:
        try:
            return _authenticate(store, headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=fresh)
        except AuthenticationRefused as error:
            if not error.on_kept_copy:
                raise
            return _authenticate(store, headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=True)
    except AuthenticationRefused as error:
        store.refusal_record(sender=error.sender, reason=error.reason, client_ip=client_ip,
                             key=presented_key(headers), headers=headers, raw_body=raw_body)
        raise


def authenticate_spending_nonce(store: KeyStore, *, headers: Mapping[str, str], raw_body: bytes,
                                client_ip: str | None) -> Verified:
    """`authenticate` for endpoints that record nothing to spend the nonce with: it is spent here,
    at once, and a replay is refused and counted. Decided on fresh credentials."""
    verified = authenticate(store, headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=True)
    if verified.nonce and not store.nonce_spend(sender=verified.sender, nonce=verified.nonce):
        store.refusal_record(sender=verified.sender, reason="replayed_nonce", client_ip=client_ip,
                             key=presented_key(headers), headers=headers, raw_body=raw_body)
        raise AuthenticationRefused("replayed_nonce", sender=verified.sender)
    return verified


def _authenticate(store: KeyStore, *, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None,
                  fresh: bool) -> Verified:
    credentials = None
    try:
        credentials = identify(store, headers, fresh=fresh)
        address_check(credentials, client_ip)
        nonce = verify(credentials, headers=headers, raw_body=raw_body)
    except AuthenticationRefused as error:
        if credentials is not None:
            error.sender = error.sender if error.sender is not None else credentials.sender
            error.on_kept_copy = credentials.kept
        raise
    return Verified(credentials=credentials, nonce=nonce)


def identify(store: KeyStore, headers: Mapping[str, str], *, fresh: bool) -> Credentials:
    """By X-Prosperas-Key when sent (hmac senders, or api_key ones that also send it), else by the
    bearer key (api_key senders)."""
    public_key = headers.get(signing.HEADER_KEY, "")
    bearer = bearer_token(headers)
    if public_key:
        credentials = store.by_public_key(public_key, fresh=fresh)
    elif bearer:
        credentials = store.by_api_key(bearer, fresh=fresh)
    else:
        raise AuthenticationRefused(
            "missing_headers",
            detail=f"Send {signing.HEADER_KEY}, {signing.HEADER_TIMESTAMP}, {signing.HEADER_NONCE} and "
            f"{signing.HEADER_SIGNATURE} (or Authorization: Bearer <key> if your integration uses an API key).",
        )
    if credentials is None:
        raise AuthenticationRefused("unknown_key")
    return credentials


def address_check(credentials: Credentials, client_ip: str | None) -> None:
    """The optional allowlist: exact addresses, no ranges (seed 004: "must match exactly")."""
    if not credentials.allowlist:
        return
    if client_ip is None or ipaddress.ip_address(client_ip) not in _addresses(credentials.allowlist):
        raise AuthenticationRefused("address_not_allowed", sender=credentials.sender)


def _addresses(entries: tuple[str, ...]) -> set:
    addresses = set()
    for entry in entries:
        try:
            addresses.add(ipaddress.ip_address(entry))
        except ValueError:  # the model validates entries; a bad one saved around it matches nothing
            logger.warning("ignoring an allowlist entry that is not an IP address")
    return addresses


def verify(credentials: Credentials, *, headers: Mapping[str, str], raw_body: bytes) -> str:
    """The credentials' mode's verifier: the nonce carried, or AuthenticationRefused."""
    return VERIFIERS[credentials.mode](credentials=credentials, headers=headers, raw_body=raw_body)


def _verify_hmac(*, credentials: Credentials, headers: Mapping[str, str], raw_body: bytes) -> str:
    """Timestamp within tolerance, well-formed nonce, signature by the current or previous secret.
    Returns the nonce, spent only by the endpoint: an unauthenticated request cannot burn it."""
    names = (signing.HEADER_TIMESTAMP, signing.HEADER_NONCE, signing.HEADER_SIGNATURE)
    missing = [name for name in names if not headers.get(name)]
    if missing:
        raise AuthenticationRefused("missing_headers", detail=f"Missing header(s): {', '.join(missing)}.")
    timestamp, nonce, received = (headers[name] for name in names)
    _timestamp_check(timestamp)
    if not signing.NONCE_PATTERN.fullmatch(nonce):
        raise AuthenticationRefused("bad_nonce")
    if not signing.SIGNATURE_PATTERN.fullmatch(received):
        raise AuthenticationRefused(
            "bad_signature", detail=f"{signing.HEADER_SIGNATURE} must be 64 lowercase hexadecimal characters."
        )
    # Both secrets are always tried, so timing does not tell which one (if any) matched.
    matches = [
        signing.signatures_match(signing.signature(secret, timestamp, nonce, raw_body), received)
        for secret in _secrets(credentials)
    ]
    if not any(matches):
        raise AuthenticationRefused("bad_signature")
    return nonce


def _verify_api_key(*, credentials: Credentials, headers: Mapping[str, str], raw_body: bytes) -> str:
    """For senders that cannot sign: the bearer key compared in constant time with the secret
    (no nonce: nothing to spend)."""
    presented = bearer_token(headers)
    if not presented:
        raise AuthenticationRefused(
            "missing_headers", detail="This integration authenticates with Authorization: Bearer <key>."
        )
    matches = [hmac.compare_digest(presented.encode(), secret.encode()) for secret in _secrets(credentials)]
    if not any(matches):
        raise AuthenticationRefused("unknown_key", detail="The API key is not valid.")
    return ""


# One verifier per authentication mode a sender can be onboarded with.
VERIFIERS: dict[str, Callable[..., str]] = {HMAC: _verify_hmac, API_KEY: _verify_api_key}


def _secrets(credentials: Credentials) -> tuple[str, ...]:
    """The secrets that verify now; refuses to run for a sender with none (STYLE.md)."""
    if not credentials.secrets:
        logger.error("signed-request sender %s has no secret configured", credentials.name)
        raise AuthenticationRefused(
            "unknown_key", detail="No postback credentials are configured for this key.", sender=credentials.sender
        )
    return credentials.secrets


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a request names itself by, fit to count and keep: X-Prosperas-Key (public), or for
    a bearer key `bearer:` and the start of its SHA-256 (never the secret itself); "" for none."""
    public_key = headers.get(signing.HEADER_KEY, "")
    if public_key:
        return public_key[:128]
    bearer = bearer_token(headers)
    return f"bearer:{hashlib.sha256(bearer.encode()).hexdigest()[:16]}" if bearer else ""


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `Authorization: Bearer <token>`; the scheme's name in any case and the spaces
    after it as HTTP allows them (RFC 9110 §11: scheme names are case-insensitive)."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip(" ") if scheme.lower() == "bearer" else ""


def _timestamp_check(value: str) -> None:
    moment = signing.parse_offset_datetime(value)
    if moment is None:
        raise AuthenticationRefused("bad_timestamp")
    now = timezone.now()
    try:
        skew = abs((now - moment).total_seconds())
    except OverflowError:  # year 1 with a negative offset, and the like
        raise AuthenticationRefused("bad_timestamp") from None
    if skew > timestamp_tolerance_seconds():
        raise AuthenticationRefused(
            "stale_timestamp",
            detail=f"{AUTH_FAILURE_MESSAGES['stale_timestamp']} Prosperas' time: {now.isoformat(timespec='seconds')}.",
        )
