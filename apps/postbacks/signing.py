"""Signing postbacks: the one implementation used by the endpoint, the sandbox, tests and tools.

signature = lowercase hex HMAC-SHA256(secret, f"{timestamp}.{nonce}.".encode() + raw_body)
"""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

HEADER_KEY = "X-Prosperas-Key"
HEADER_TIMESTAMP = "X-Prosperas-Timestamp"
HEADER_NONCE = "X-Prosperas-Nonce"
HEADER_SIGNATURE = "X-Prosperas-Signature"


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
