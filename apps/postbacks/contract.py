"""The postback contract's fixed parts (DESIGN.md §5), in one place.

The endpoint, the OpenAPI schema and the lender-facing documentation page all read these, so
what we enforce and what we publish cannot drift apart.
"""

import re
from datetime import datetime

from django.conf import settings

PATH = "/api/v1/postbacks"
TESTER_PATH = "/api/v1/postbacks/test"

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

# Reason codes of a 401, with the sentence sent to the lender. The docs page lists them all.
AUTH_FAILURE_MESSAGES = {
    "missing_headers": "Authentication headers are missing.",
    "unknown_key": "No lender is set up with this key.",
    "bad_timestamp": "X-Prosperas-Timestamp must be an ISO 8601 date-time with an offset, "
    f"e.g. {OFFSET_DATETIME_EXAMPLE}.",
    "stale_timestamp": "X-Prosperas-Timestamp is more than 5 minutes away from Prosperas' clock; "
    "check your clock and sign the request again.",
    "bad_nonce": "X-Prosperas-Nonce must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -.",
    "replayed_nonce": "This nonce was already used; sign every request, retries included, with a fresh nonce.",
    "bad_signature": "The signature does not match: sign \"{timestamp}.{nonce}.{raw body}\" with HMAC-SHA256 "
    "and your secret, and send it as lowercase hex.",
    "address_not_allowed": "Requests for this key are not accepted from this address.",
}


# Only the postback tester refuses for this reason: it works on staging integrations alone.
TESTER_AUTH_FAILURE_MESSAGES = {
    "not_a_staging_key": "The postback tester takes the credentials of your staging integration; these are "
    "production credentials.",
}


def max_body_bytes() -> int:
    return settings.POSTBACK_MAX_BODY_BYTES


def timestamp_tolerance_seconds() -> int:
    return settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS


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
