"""How a signed endpoint is described in the OpenAPI schema: its security schemes and the
signing headers (every lender-signed endpoint publishes the same)."""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
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


class StrictBodySchema(OpenApiSerializerExtension):
    """A strict body's schema says what its endpoint does: no field beyond those listed
    (`additionalProperties: false`), and the rules between fields (`schema_rules`), so a client or
    schemathesis generating from the schema never sends what the endpoint refuses."""

    target_class = "prosperas.inbound.fields.StrictBodySerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False, **self.target.schema_rules}


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


# --- Strings and JSON that can be stored --------------------------------------------------------
#
# Every string a lender sends is refused with a NUL character (PostgreSQL's text and jsonb cannot
# hold one), and so is a JSON number beyond a double: the schema says so, so that what it calls
# valid is what the endpoints accept.

NO_NUL_PATTERN = "^[^\\u0000]*$"
STORABLE_JSON_VALUE = "StorableJSONValue"
STORABLE_JSON_OBJECT = "StorableJSONObject"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


STORABLE_JSON_COMPONENTS = {
    STORABLE_JSON_VALUE: {
        "description": "Any JSON value whose strings hold no NUL character and whose numbers fit a double.",
        "anyOf": [{"type": "string", "pattern": NO_NUL_PATTERN}, {"type": "number"},
                  {"type": ["boolean", "null"]}, {"type": "array", "items": _ref(STORABLE_JSON_VALUE)},
                  _ref(STORABLE_JSON_OBJECT)],
    },
    STORABLE_JSON_OBJECT: {
        "type": "object", "description": "A JSON object of storable values; no key holds a NUL character.",
        "propertyNames": {"pattern": NO_NUL_PATTERN}, "additionalProperties": _ref(STORABLE_JSON_VALUE),
    },
}


def storable_json_object_field_schema() -> dict:
    """For extend_schema_field: a JSON object of storable values (the components are added to
    every schema by `storable_json_components`)."""
    return _ref(STORABLE_JSON_OBJECT)


def storable_json_components(result, generator, request, public):
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): the storable JSON components,
    recursive, which no serializer field can register itself."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(STORABLE_JSON_COMPONENTS)
    return result


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """A strict string refuses the NUL character (DRF's CharField does): its schema says so,
    unless the field publishes a pattern of its own (which already leaves NUL out)."""

    target_class = "prosperas.inbound.fields.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {"pattern": NO_NUL_PATTERN, **schema}


BLANK_ALTERNATIVE = {"type": "string", "maxLength": 0}


def blank_alternatives_any_of(result, generator, request, public):
    """drf-spectacular postprocessing hook: a string field that allows "" and has a pattern or a
    format is published as `oneOf: [its rules, the empty string]`, which no "" can satisfy when its
    rules accept "" as well (exactly one must match). `anyOf` says what the field does."""
    pending = [result]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            alternatives = node.get("oneOf")
            if isinstance(alternatives, list) and BLANK_ALTERNATIVE in alternatives:
                node["anyOf"] = node.pop("oneOf")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return result


# The 429 of every rate-limited endpoint (prosperas/inbound/limits.py).
RATE_LIMITED_DESCRIPTION = (
    "rate_limited: too many requests from your address or with your key (limits per address and per key, "
    "counted per endpoint in fixed windows: /docs/postbacks/#limits). The `Retry-After` header gives the "
    "seconds until the window ends; send the request again then, signed again."
)
RATE_LIMITED_MESSAGE = "Too many requests from this address (at most 1500 per 10s); retry after 7 seconds."
