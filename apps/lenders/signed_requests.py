"""The lenders' key store for signed requests (prosperas.inbound.auth): postbacks, product data,
and any other endpoint a lender signs for. A lender is found by its public key or by its bearer
key's SHA-256 (so no row's secret has to be decrypted to search); its nonces and the refusals of
its requests are kept here too.

    from apps.lenders.signed_requests import LENDER_KEYS
    from prosperas.inbound import auth
    verified = auth.authenticate_spending_nonce(LENDER_KEYS, headers=..., raw_body=..., client_ip=...)
    verified.sender  # the Lender

The lookups run on every postback, so they are written in SQL (helpers in prosperas/sql.py),
with the model's own table and column names and the fields' own conversions.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from apps.lenders.credentials import LAST_USED_EVERY_SECONDS, credential_used
from apps.lenders.masking import mask_json, truncate
from apps.lenders.models import Lender, LenderCredential, PostbackAuthFailure, PostbackNonce, refusal_hour
from prosperas.inbound import signing
from prosperas.inbound.auth import API_KEY, HMAC, Credentials, bearer_token
from prosperas.inbound.body import HEADERS_NOT_KEPT
from prosperas.sql import columns, datetime_param, fetch_one, fields_of, instance_from_row

logger = logging.getLogger(__name__)

# What authentication reads of a lender: who it is, and the columns it decides by (all text, the
# secrets as stored: encrypted). Its encrypted adapter credentials are never decrypted.
LENDER_IDENTITY_FIELDS = ("id", "code")
LENDER_CREDENTIAL_FIELDS = ("environment", "postback_auth", "postback_key", "postback_secret",
                            "postback_secret_previous", "postback_api_key_digest", "postback_ip_allowlist")
# When the previous secret stops verifying: read with the others, compared with the clock on
# every request (a kept copy expires it on time too); not part of the write guard.
LENDER_EXPIRY_FIELDS = ("postback_secret_previous_until",)
LENDER_AUTH_FIELDS = LENDER_IDENTITY_FIELDS + LENDER_CREDENTIAL_FIELDS + LENDER_EXPIRY_FIELDS

# Each web process keeps the lenders it authenticated for this long. An event is recorded on a
# kept copy only while the lender's credential columns in the database still hold what was read
# (the write guard: lender_unchanged_condition), and a request refused on a kept copy is decided
# again on the lender as stored now (prosperas.inbound.auth.authenticate): a change by staff (a
# new secret, a rotation, the allowlist, the mode) applies to the next request, in every process.
LENDER_CACHE_SECONDS = 60.0
LENDER_CACHE_SIZE = 1000

# Lender.PostbackAuth's modes are prosperas.inbound.auth's verifiers, by the same names.
if {HMAC, API_KEY} != set(Lender.PostbackAuth.values):
    raise ImproperlyConfigured(f"Lender.PostbackAuth {Lender.PostbackAuth.values} must be the verifiers' modes")


@dataclass(frozen=True)
class LenderAsRead:
    """A lender as authentication read it, with LENDER_AUTH_FIELDS loaded (the others load on
    access, as with the ORM's only()), and its credential columns as they were stored then."""

    lender: Lender
    stored: tuple[str, ...]
    cached: bool  # read by an earlier request of this process (lender_for_authentication)


@dataclass(frozen=True)
class _Kept:
    expires: float
    values: tuple  # LENDER_AUTH_FIELDS' values as loaded (decrypted), in model field order
    stored: tuple[str, ...]


_lenders_read: dict[tuple, _Kept] = {}


def lender_for_authentication(*, column: str, value: str, api_key_only: bool = False,
                              fresh: bool = False) -> LenderAsRead | None:
    """The lender whose `column` (postback_key or postback_api_key_digest) is `value`: built from
    this process's recent copy when it has one, unless `fresh`, else read now (and kept). Every
    caller gets an instance of its own."""
    key = (connection.alias, column, value, api_key_only)
    kept = None if fresh else _lenders_read.get(key)
    if kept is None or kept.expires <= time.monotonic():
        return _lender_read(key)
    return LenderAsRead(lender=Lender.from_db(connection.alias, _auth_attnames(), kept.values), stored=kept.stored,
                        cached=True)


def _lender_read(key: tuple) -> LenderAsRead | None:
    """Read the lender of `key` (lender_for_authentication's) now, and keep it."""
    _alias, column, value, api_key_only = key
    params: list[Any] = [value, Lender.PostbackAuth.API_KEY] if api_key_only else [value]
    row = fetch_one(_lender_sql(column, api_key_only), params)
    if row is None:
        _lenders_read.pop(key, None)
        return None
    loaded = instance_from_row(Lender, fields_of(Lender, LENDER_AUTH_FIELDS), row)
    # Selected in LENDER_AUTH_FIELDS' order: the credential columns follow the identity ones.
    stored = tuple(row[len(LENDER_IDENTITY_FIELDS):len(LENDER_IDENTITY_FIELDS) + len(LENDER_CREDENTIAL_FIELDS)])
    if len(_lenders_read) >= LENDER_CACHE_SIZE:
        _lenders_read.clear()
    _lenders_read[key] = _Kept(expires=time.monotonic() + LENDER_CACHE_SECONDS, stored=stored,
                               values=tuple(getattr(loaded, name) for name in _auth_attnames()))
    return LenderAsRead(lender=loaded, stored=stored, cached=False)


@functools.cache
def _auth_attnames() -> list[str]:
    """LENDER_AUTH_FIELDS' attnames in model field order, as Model.from_db takes them."""
    return [field.attname for field in Lender._meta.concrete_fields if field.name in LENDER_AUTH_FIELDS]


@functools.cache
def _lender_sql(column: str, api_key_only: bool) -> str:
    where = f"{connection.ops.quote_name(column)} = %s" + (" AND postback_auth = %s" if api_key_only else "")
    return f"SELECT {columns(fields_of(Lender, LENDER_AUTH_FIELDS))} FROM {Lender._meta.db_table} WHERE {where}"


@functools.cache
def lender_unchanged_condition() -> str:
    """SQL true on the lender's row while its credential columns hold `stored`
    (lender_unchanged_params): the write guard of a request authenticated on a kept copy."""
    checks = [f"{Lender._meta.db_table}.id = %(lender_id)s"] + [
        f"{Lender._meta.db_table}.{connection.ops.quote_name(field.column)} = %(lender_stored_{index})s"
        for index, field in enumerate(fields_of(Lender, LENDER_CREDENTIAL_FIELDS))
    ]
    return " AND ".join(checks)


def lender_unchanged_params(stored: tuple[str, ...]) -> dict[str, str]:
    return {f"lender_stored_{index}": value for index, value in enumerate(stored)}


def lender_unchanged(*, lender_id: int, stored: tuple[str, ...]) -> bool:
    """Whether the lender's credential columns still hold `stored`."""
    sql = f"SELECT EXISTS (SELECT 1 FROM {Lender._meta.db_table} WHERE {lender_unchanged_condition()})"
    return bool(fetch_one(sql, {"lender_id": lender_id, **lender_unchanged_params(stored)})[0])


def nonce_spend(*, lender_id: int, nonce: str, tester: bool, seen_at: datetime) -> bool:
    """Insert the nonce unless the lender already used it (here, or with the tester's set apart):
    True when it was new. One statement that says whether it inserted: no exception to catch, and
    so no savepoint inside the caller's transaction."""
    sql = (f"INSERT INTO {PostbackNonce._meta.db_table} (lender_id, nonce, tester, seen_at) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (lender_id, tester, nonce) DO NOTHING RETURNING id")
    return fetch_one(sql, [lender_id, nonce, tester, datetime_param(seen_at)]) is not None


def refusal_record(*, lender: Lender | None, reason: str, source_ip: str | None, key: str = "",
                   headers: Mapping[str, str] | None = None, raw_body: bytes = b"") -> None:
    """Count a refusal for staff: one statement adds it to its row (lender, key, address, reason,
    hour; PostbackAuthFailure), and the row's first LENDER_REFUSAL_SAMPLES refusals also keep a
    sample (headers without credentials, the body masked and cut short). A flood of refusals
    adds to a count: it writes no row each, and no sample past the first few. `key` is counted
    only when it names a lender: made-up keys cannot add rows."""
    now = timezone.now()
    row_id, sampled = fetch_one(_refusal_count_sql(), {
        "lender_id": lender.pk if lender else None, "key": key[:128] if lender else "", "reason": reason[:40],
        "source_ip": source_ip, "hour": datetime_param(refusal_hour(now)), "now": datetime_param(now),
    })
    limit = settings.LENDER_REFUSAL_SAMPLES
    if sampled < limit:
        sample = refusal_sample(at=now, headers=headers or {}, raw_body=raw_body)
        fetch_one(f"UPDATE {PostbackAuthFailure._meta.db_table} SET samples = samples || %s::jsonb "
                  "WHERE id = %s AND jsonb_array_length(samples) < %s RETURNING id",
                  [json.dumps([sample]), row_id, limit])
    logger.info("signed request refused: reason=%s lender=%s ip=%s", reason, lender.code if lender else "-", source_ip)


@functools.cache
def _refusal_count_sql() -> str:
    table = PostbackAuthFailure._meta.db_table
    return (
        f"INSERT INTO {table} AS refusal (lender_id, key, reason, source_ip, hour, count, first_seen_at, last_seen_at, "
        "samples) VALUES (%(lender_id)s, %(key)s, %(reason)s, %(source_ip)s, %(hour)s, 1, %(now)s, %(now)s, '[]') "
        "ON CONFLICT (lender_id, key, reason, source_ip, hour) "
        "DO UPDATE SET count = refusal.count + 1, last_seen_at = EXCLUDED.last_seen_at "
        "RETURNING id, jsonb_array_length(refusal.samples)"
    )


def refusal_sample(*, at: datetime, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
    """What staff see of one refused request: when, its headers without credentials (each cut
    short), and its body: a JSON object or array with every personal-looking field masked
    (apps.lenders.masking), cut to LENDER_REFUSAL_SAMPLE_CHARS; anything else only by its size,
    since text that is not JSON cannot be masked by field."""
    kept = {name: str(value)[:256] for name, value in list(headers.items())[:40]
            if name.lower() not in HEADERS_NOT_KEPT}
    body = f"(not a JSON object or array: {len(raw_body)} bytes, not kept)" if raw_body else ""
    try:
        parsed = json.loads(raw_body) if raw_body else None
        if isinstance(parsed, (dict, list)):
            body = truncate(json.dumps(mask_json(parsed), ensure_ascii=False), settings.LENDER_REFUSAL_SAMPLE_CHARS)
    except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError included), or nested beyond reason
        pass
    return {"at": at.isoformat(timespec="milliseconds"), "headers": kept, "bytes": len(raw_body), "body": body}


def credentials_of(read: LenderAsRead) -> Credentials:
    lender = read.lender
    until = lender.postback_secret_previous_until
    previous = lender.postback_secret_previous if until is None or until > timezone.now() else ""
    secrets = tuple(secret for secret in (lender.postback_secret, previous) if secret)
    return Credentials(sender=lender, name=lender.code, mode=lender.postback_auth, secrets=secrets,
                       allowlist=tuple(lender.ip_allowlist), kept=read.cached, stored=read.stored)


class LenderKeyStore:
    """prosperas.inbound.auth.KeyStore over the lenders' postback credentials."""

    def by_public_key(self, public_key: str, *, fresh: bool) -> Credentials | None:
        read = lender_for_authentication(column="postback_key", value=public_key, fresh=fresh)
        return None if read is None else credentials_of(read)

    def by_api_key(self, api_key: str, *, fresh: bool) -> Credentials | None:
        digest = Lender.api_key_digest(api_key)
        read = lender_for_authentication(column="postback_api_key_digest", value=digest, api_key_only=True,
                                         fresh=fresh)
        if read is None:  # not a current key: a rotated-out one still in its overlap window?
            read = _lender_of_previous_api_key(digest, fresh=fresh)
        return None if read is None else credentials_of(read)

    def refusal_record(self, *, sender: Lender | None, reason: str, client_ip: str | None, key: str = "",
                       headers: Mapping[str, str] | None = None, raw_body: bytes = b"") -> None:
        refusal_record(lender=sender, reason=reason, source_ip=client_ip, key=key, headers=headers, raw_body=raw_body)

    def nonce_spend(self, *, sender: Lender, nonce: str, tester: bool = False) -> bool:
        return nonce_spend(lender_id=sender.pk, nonce=nonce, tester=tester, seen_at=timezone.now())


def _lender_of_previous_api_key(digest: str, *, fresh: bool) -> LenderAsRead | None:
    """The api_key lender whose rotated-out key (still unexpired, unrevoked) has this digest: one
    indexed read of the credentials, then the lender by its public key as every request reads it
    (credentials_of decides whether the previous key still verifies)."""
    now = timezone.now()
    found = (LenderCredential.objects.filter(digest=digest, revoked_at__isnull=True, expires_at__gt=now,
                                             lender__postback_auth=Lender.PostbackAuth.API_KEY)
             .values_list("lender__postback_key", flat=True).first())
    return None if found is None else lender_for_authentication(column="postback_key", value=found, fresh=fresh)


LENDER_KEYS = LenderKeyStore()

_use_checked: dict[int, float] = {}


def credential_use_record(credentials: Credentials, *, headers: Mapping[str, str], raw_body: bytes) -> None:
    """Note which of the lender's secrets verified this request (its credential's last use). At
    most once a minute per lender and process: most requests stop at the dictionary look-up, and
    only then is the matching secret found again (one or two HMACs) and written."""
    lender_id = credentials.sender.pk
    now = time.monotonic()
    if now - _use_checked.get(lender_id, float("-inf")) < LAST_USED_EVERY_SECONDS:
        return
    _use_checked[lender_id] = now
    for secret in credentials.secrets:
        if _verifies(credentials.mode, secret, headers=headers, raw_body=raw_body):
            credential_used(lender_id=lender_id, secret=secret)
            return


def _verifies(mode: str, secret: str, *, headers: Mapping[str, str], raw_body: bytes) -> bool:
    if mode == API_KEY:
        return bearer_token(headers) == secret
    expected = signing.signature(secret, headers.get(signing.HEADER_TIMESTAMP, ""),
                                 headers.get(signing.HEADER_NONCE, ""), raw_body)
    return signing.signatures_match(expected, headers.get(signing.HEADER_SIGNATURE, ""))
