"""How a signed endpoint is described in the OpenAPI schema: its security schemes and the
signing headers (every lender-signed endpoint publishes the same)."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter

from prosperas.inbound import signing

SIGNATURE_SCHEME = "ProsperasSignature"
API_KEY_SCHEME = "ProsperasApiKey"

SECURITY_SCHEMES = {
    SIGNATURE_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": signing.HEADER_SIGNATURE,
        "description": (
            "The default. Send four headers: `X-Prosperas-Key` (your public key), `X-Prosperas-Timestamp` "
            "(ISO 8601 with an offset, within 5 minutes of our clock), `X-Prosperas-Nonce` (8-128 characters "
            "of A-Z a-z 0-9 _ -, never reused) and `X-Prosperas-Signature`: the lowercase hex HMAC-SHA256, "
            "with your secret, of `{timestamp}.{nonce}.{raw body}` computed on the exact bytes you send. "
            "During a secret rotation both the new and the old secret verify. Examples in Python, Node.js "
            "and curl+openssl: /docs/postbacks/."
        ),
    },
    API_KEY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "For integrations set up with an API key because they cannot sign: "
        "`Authorization: Bearer <key>`. No timestamp, nonce or signature.",
    },
}


class SignedRequestSchema(AutoSchema):
    """A signed endpoint authenticates in its own pipeline (on the raw body, before parsing), not with
    a DRF authentication class, so its security schemes are declared here."""

    def get_auth(self) -> list[dict]:
        for name, definition in SECURITY_SCHEMES.items():
            self.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SECURITY_SCHEMA, object=name, schema=definition)
            )
        return [{SIGNATURE_SCHEME: []}, {API_KEY_SCHEME: []}]


HEADER_PARAMETERS = [
    OpenApiParameter(
        signing.HEADER_KEY, str, OpenApiParameter.HEADER, required=False,
        description="hmac mode: your public key, as given at onboarding.",
    ),
    OpenApiParameter(
        signing.HEADER_TIMESTAMP, str, OpenApiParameter.HEADER, required=False,
        description="hmac mode: ISO 8601 with an offset, e.g. 2026-06-03T12:00:00.000Z; refused when more "
        "than 5 minutes in the past or the future.",
    ),
    OpenApiParameter(
        signing.HEADER_NONCE, str, OpenApiParameter.HEADER, required=False,
        pattern=f"^{signing.NONCE_PATTERN.pattern}$",
        description="hmac mode: 8-128 characters of A-Z a-z 0-9 _ -; a fresh one for every request, retries "
        "included. A nonce seen before is refused for at least 10 minutes.",
    ),
    OpenApiParameter(
        signing.HEADER_SIGNATURE, str, OpenApiParameter.HEADER, required=False,
        pattern=f"^{signing.SIGNATURE_PATTERN.pattern}$",
        description="hmac mode: lowercase hex HMAC-SHA256(secret, \"{timestamp}.{nonce}.{raw body}\").",
    ),
]

# The 429 of every rate-limited endpoint (prosperas/inbound/limits.py).
RATE_LIMITED_DESCRIPTION = (
    "rate_limited: too many requests from your address or with your key (limits per address and per key, "
    "counted per endpoint in fixed windows: /docs/postbacks/#limits). The `Retry-After` header gives the "
    "seconds until the window ends; send the request again then, signed again."
)
RATE_LIMITED_MESSAGE = "Too many requests from this address (at most 1500 per 10s); retry after 7 seconds."
