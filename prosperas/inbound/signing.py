"""Signing lender requests: the one implementation used by the endpoints, the sandbox, the
mapped adapter, tests and tools.

signature = lowercase hex HMAC-SHA256(secret, f"{timestamp}.{nonce}.".encode() + raw_body)

Standard library only (bench/postbacks.py signs its load with it before Django is set up).
"""

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

HEADER_KEY = "X-Prosperas-Key"
HEADER_TIMESTAMP = "X-Prosperas-Timestamp"
HEADER_NONCE = "X-Prosperas-Nonce"
HEADER_SIGNATURE = "X-Prosperas-Signature"

# 8-128 characters of A-Z a-z 0-9 _ -: a nonce can hold no ".", the separator of the signed
# message, so "{timestamp}.{nonce}.{body}" splits one way only.
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,128}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")

# RFC 3339 / ISO 8601 extended form with a mandatory offset. A pattern first, rather than only
# datetime.fromisoformat, because that also accepts forms other languages' libraries do not
# produce or parse the same way (basic form "20260603T120000Z", hour-only "T12Z"). Up to nine
# fraction digits, since Java's Instant prints nanoseconds.
OFFSET_DATETIME_PATTERN = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?(?P<offset>Z|[+-]\d{2}:\d{2})",
    re.ASCII,
)
OFFSET_DATETIME_EXAMPLE = "2026-06-03T12:00:00.000Z"


def parse_offset_datetime(value: str) -> datetime | None:
    """An aware datetime, or None when `value` is not ISO 8601 with an offset (or not a date)."""
    match = OFFSET_DATETIME_PATTERN.fullmatch(value)
    if match is None:
        return None
    microseconds = (match["fraction"] or "").ljust(6, "0")[:6]  # Python keeps microseconds only
    try:
        return datetime.fromisoformat(f"{match['base']}.{microseconds}{match['offset']}")
    except ValueError:  # 2026-02-30, 25:00, an offset of +24:00
        return None


def signature(secret: str, timestamp: str, nonce: str, raw_body: bytes) -> str:
    message = timestamp.encode() + b"." + nonce.encode() + b"." + raw_body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signatures_match(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.encode())


def new_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def signed_headers(*, key: str, secret: str, raw_body: bytes, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers a lender sends with `raw_body`: fresh timestamp and nonce unless given."""
    timestamp = timestamp or new_timestamp()
    nonce = nonce or new_nonce()
    return {
        "Content-Type": "application/json",
        HEADER_KEY: key,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, timestamp, nonce, raw_body),
    }
