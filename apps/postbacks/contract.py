"""The postback contract's fixed parts (DESIGN.md §5), in one place.

The endpoint, the OpenAPI schema and the lender-facing documentation page all read these, so
what we enforce and what we publish cannot drift apart.
"""

from django.conf import settings

from prosperas.inbound import body, refusals, signing

PATH = "/api/v1/postbacks"
TESTER_PATH = "/api/v1/postbacks/test"

# The signing protocol's rules, shared by every signed endpoint (prosperas.inbound).
NONCE_PATTERN = signing.NONCE_PATTERN
SIGNATURE_PATTERN = signing.SIGNATURE_PATTERN
OFFSET_DATETIME_EXAMPLE = signing.OFFSET_DATETIME_EXAMPLE
parse_offset_datetime = signing.parse_offset_datetime
AUTH_FAILURE_MESSAGES = refusals.AUTH_FAILURE_MESSAGES

# Only the postback tester refuses for this reason: it works on staging integrations alone.
TESTER_AUTH_FAILURE_MESSAGES = {
    "not_a_staging_key": "The postback tester takes the credentials of your staging integration; these are "
    "production credentials.",
}


def max_body_bytes() -> int:
    return body.max_body_bytes()


def timestamp_tolerance_seconds() -> int:
    return settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS
