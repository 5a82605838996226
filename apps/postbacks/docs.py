"""What the lender-facing documentation page shows, read from the code that enforces it: the
field rules from the serializer, the 401 reasons from the contract, the signing examples from
the files the test suite runs against a live server.
"""

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest

from apps.postbacks import contract
from apps.postbacks.selectors import MANGLINGS
from apps.postbacks.serializers import PostbackInputSerializer
from prosperas.inbound import signing

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = [
    ("python", "Python", "send_postback.py", "python3 send_postback.py"),
    ("node", "Node.js", "send_postback.mjs", "node send_postback.mjs"),
    ("shell", "curl and openssl", "send_postback.sh", "sh send_postback.sh"),
]

# Everything but 202 and 401, in the order the endpoint checks.
OTHER_ERRORS = [
    (413, "too_large", "The body is over 64 KiB. Checked first, after your address's rate limit; a chunked "
     "body is read whole up to the limit."),
    (411, "length_required", "A chunked body reached us through a server that cannot tell where it ends: "
     "send it with a Content-Length header."),
    (415, "unsupported_media_type", "The Content-Type is not application/json (a charset of utf-8 is fine)."),
    (400, "validation_error", "The body is not a JSON object, or fields break the rules above; `fields` names "
     "each one with its problems. Unknown fields are errors."),
    (404, "unknown_click_id", "None of your applications has this click_id, compared byte for byte. The event "
     "is recorded all the same, and its id returned, for reconciliation: check you echo the click_id exactly. "
     "When one of your applications would match had the click_id not been changed, `looks_like` names the "
     "change (below)."),
    (405, "method_not_allowed", "Only POST is accepted."),
    (429, "rate_limited", "Too many requests from your address or with your key (see Rate limits): wait the "
     "seconds the Retry-After header gives, then send the postback again, signed again."),
]


def rate_limits() -> list[tuple[str, str]]:
    """The limits in force, per address and per key, as a lender reads them ("1500 per 10 seconds")."""
    names = {"address": "Per client address", "key": "Per key (X-Prosperas-Key, or your bearer key)"}
    return [(names[scope], _rate_words(rate)) for scope, rate in settings.LENDER_RATE_LIMITS.items()]


def _rate_words(rate: str) -> str:
    count, _, window = rate.partition("/")
    number, unit = window[:-1] or "1", window[-1:]
    words = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[unit]
    return f"{count} per {words}" if number == "1" else f"{count} per {number} {words}s"


# A fixed input and its signature, for lenders to check their own code against (and the tests to
# check the published examples against).
WORKED_EXAMPLE = {
    "secret": "example-secret-do-not-use",
    "timestamp": contract.OFFSET_DATETIME_EXAMPLE,
    "nonce": "b3f1c2d4e5f6a7b8",
    "body": '{"click_id":"claro_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e","status":"approved"}',
}


def worked_example() -> dict[str, str]:
    values = WORKED_EXAMPLE
    signature = signing.signature(values["secret"], values["timestamp"], values["nonce"], values["body"].encode())
    return {**values, "message": f"{values['timestamp']}.{values['nonce']}.{values['body']}", "signature": signature}


def example_source(filename: str) -> str:
    return (EXAMPLES_DIR / filename).read_text()


def docs_context(request: HttpRequest) -> dict:
    serializer = PostbackInputSerializer()
    return {
        "endpoint_url": request.build_absolute_uri(contract.PATH),
        "tester_url": request.build_absolute_uri(contract.TESTER_PATH),
        "tester_auth_failures": list(contract.TESTER_AUTH_FAILURE_MESSAGES.items()),
        "manglings": list(MANGLINGS.items()),
        "fields": [(name, field.help_text) for name, field in serializer.fields.items()],
        "auth_failures": list(contract.AUTH_FAILURE_MESSAGES.items()),
        "other_errors": OTHER_ERRORS,
        "rate_limits": rate_limits(),
        "examples": [
            {"slug": slug, "title": title, "filename": filename, "run": run, "source": example_source(filename)}
            for slug, title, filename, run in EXAMPLES
        ],
        "max_body_kib": contract.max_body_bytes() // 1024,
        "tolerance_minutes": contract.timestamp_tolerance_seconds() // 60,
        "nonce_retention_minutes": settings.POSTBACK_NONCE_RETENTION_SECONDS // 60,
        "timestamp_example": contract.OFFSET_DATETIME_EXAMPLE,
        "worked": worked_example(),
        "overlap_hours": settings.LENDER_CREDENTIAL_OVERLAP_HOURS,
        "egress_ips": list(settings.EGRESS_IPS.items()),
    }
