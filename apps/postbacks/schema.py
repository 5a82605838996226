"""The endpoint's OpenAPI description: security schemes, the signing headers, every response
with an example. Applied to the view with `extend_schema(**POSTBACK_SCHEMA)`.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from apps.postbacks import contract
from apps.postbacks.serializers import (
    PostbackAcceptedSerializer,
    PostbackErrorSerializer,
    PostbackInputSerializer,
    PostbackTestAcceptedSerializer,
    PostbackTestErrorSerializer,
    PostbackTestUnmatchedSerializer,
    PostbackTestValidationErrorSerializer,
    PostbackUnmatchedSerializer,
    PostbackValidationErrorSerializer,
)
from prosperas.inbound.schema import HEADER_PARAMETERS, RATE_LIMITED_DESCRIPTION, RATE_LIMITED_MESSAGE

REQUEST_EXAMPLES = [
    OpenApiExample(
        "Approved", request_only=True,
        value={"click_id": "claro_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e", "status": "approved",
               "event_id": "evt-000123", "occurred_at": "2026-06-03T12:00:00.000-05:00",
               "product_id": "ln_personal_01", "amount": "1500000.00", "currency": "COP",
               "lender_reference": "APP-99812"},
    ),
    OpenApiExample(
        "Rejected", request_only=True,
        value={"click_id": "7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e", "status": "rejected",
               "event_id": "evt-000124", "reason": "Debt-to-income ratio above policy"},
    ),
]


def _error_example(name: str, error: str, message: str) -> OpenApiExample:
    return OpenApiExample(name, value={"error": error, "message": message}, response_only=True)


RESPONSES = {
    202: OpenApiResponse(
        PostbackAcceptedSerializer,
        description="Accepted and recorded. `lead_status` is the application's status after the event.",
        examples=[OpenApiExample(
            "Accepted", response_only=True,
            value={"event": 4211, "status": "accepted", "lead_status": "approved", "repeat": False,
                   "effect": "applied"},
        )],
    ),
    400: OpenApiResponse(
        PostbackValidationErrorSerializer,
        description="Validation error: the body is not a JSON object, or fields break the contract (each named). "
        "Unknown top-level fields are errors too.",
        examples=[OpenApiExample(
            "Validation error", response_only=True,
            value={"error": "validation_error", "message": "The postback has invalid fields: amount, colour.",
                   "fields": {"amount": ["Must be greater than zero."],
                              "colour": ["Unknown field: the postback contract has no such field."]}},
        )],
    ),
    401: OpenApiResponse(
        PostbackErrorSerializer,
        description="Authentication failed; `error` is one of: " + ", ".join(contract.AUTH_FAILURE_MESSAGES) + ".",
        examples=[_error_example(reason, reason, text) for reason, text in contract.AUTH_FAILURE_MESSAGES.items()],
    ),
    404: OpenApiResponse(
        PostbackUnmatchedSerializer,
        description="unknown_click_id: none of your applications has this click_id (compared byte for byte). "
        "The event is recorded all the same, for reconciliation. When one of your applications would match had "
        "the click_id not been changed (letter case, whitespace, invisible characters, braces, removed dashes, "
        "prefix, truncation, percent-encoding, Unicode normalization), `looks_like` names the change; it still "
        "does not match.",
        examples=[
            OpenApiExample(
                "Unknown click_id", response_only=True,
                value={"error": "unknown_click_id", "message": "None of your applications has this click_id "
                       "(compared byte for byte); the event was recorded for reconciliation.", "event": 4212},
            ),
            OpenApiExample(
                "Unknown click_id that looks changed", response_only=True,
                value={"error": "unknown_click_id", "event": 4213, "looks_like": ["letter_case"],
                       "message": "None of your applications has this click_id (compared byte for byte); the "
                       "event was recorded for reconciliation. It looks like the click_id of one of your "
                       "applications with its letter case changed: send it back exactly as we sent it to you."},
            ),
        ],
    ),
    413: OpenApiResponse(
        PostbackErrorSerializer, description="The body is over 64 KiB.",
        examples=[_error_example("Too large", "too_large", "The body is over 65536 bytes (64 KiB).")],
    ),
    415: OpenApiResponse(
        PostbackErrorSerializer, description="Not JSON: send Content-Type: application/json (UTF-8).",
        examples=[_error_example("Not JSON", "unsupported_media_type",
                                 "Send the body as JSON with Content-Type: application/json (UTF-8).")],
    ),
    429: OpenApiResponse(
        PostbackErrorSerializer, description=RATE_LIMITED_DESCRIPTION,
        examples=[_error_example("Rate limited", "rate_limited", RATE_LIMITED_MESSAGE)],
    ),
}

POSTBACK_SCHEMA = {
    "operation_id": "postbacks_create",
    "summary": "Report a status change of an application (postback)",
    "description": (
        "Send one postback per status change of an application Prosperas sent you, echoing its `click_id` "
        "byte for byte. The body is JSON, at most 64 KiB. Every accepted postback is recorded, retries "
        "included; a repeat of an earlier event (same status or same `event_id`) is marked as such. Events "
        "never move an application backwards, and one that contradicts its state is kept and flagged for "
        "review. When you retry, sign again with a fresh timestamp and nonce and keep the `event_id`. "
        "Signing examples: /docs/postbacks/."
    ),
    "tags": ["postbacks"],
    "request": PostbackInputSerializer,
    "parameters": HEADER_PARAMETERS,
    "responses": RESPONSES,
    "examples": REQUEST_EXAMPLES,
}


# --- The tester -------------------------------------------------------------------------------


def _tester_example(name: str, value: dict) -> OpenApiExample:
    return OpenApiExample(name, value={"test": True, **value}, response_only=True)


TESTER_RESPONSES = {
    202: OpenApiResponse(
        PostbackTestAcceptedSerializer,
        description="The endpoint would accept and record this postback; `lead_status`, `repeat` and `effect` "
        "are what it would answer. Nothing was recorded: `event` is null.",
        examples=[_tester_example("Would be accepted", {
            "event": None, "status": "accepted", "lead_status": "approved", "repeat": False, "effect": "applied",
            "message": "Test only, nothing recorded: the endpoint would accept this postback and move the "
            "application from handed_off to approved."})],
    ),
    400: OpenApiResponse(
        PostbackTestValidationErrorSerializer, description="The endpoint would refuse the body: the same 400.",
        examples=[_tester_example("Validation error", {
            "error": "validation_error", "message": "The postback has invalid fields: status.",
            "fields": {"status": ['"approve" is not a valid choice.']}})],
    ),
    401: OpenApiResponse(
        PostbackTestErrorSerializer,
        description="The endpoint would refuse the credentials, with the same `error`; or `not_a_staging_key`: "
        "the tester takes staging credentials only. Refusals here are not counted.",
        examples=[_tester_example(reason, {"error": reason, "message": text}) for reason, text in
                  {**contract.AUTH_FAILURE_MESSAGES, **contract.TESTER_AUTH_FAILURE_MESSAGES}.items()],
    ),
    404: OpenApiResponse(
        PostbackTestUnmatchedSerializer,
        description="The endpoint would answer unknown_click_id (and record the event for reconciliation); "
        "`looks_like` as there.",
        examples=[_tester_example("Would not match", {
            "error": "unknown_click_id", "event": None, "looks_like": ["prefix_stripped"],
            "message": "Test only, nothing recorded: None of your applications has this click_id (compared byte "
            "for byte); the endpoint would record the event for reconciliation and answer 404. It looks like the "
            "click_id of one of your applications without its prefix (the part up to the underscore): send it "
            "back exactly as we sent it to you."})],
    ),
    413: OpenApiResponse(
        PostbackTestErrorSerializer, description="The body is over 64 KiB.",
        examples=[_tester_example("Too large", {"error": "too_large",
                                                "message": "The body is over 65536 bytes (64 KiB)."})],
    ),
    415: OpenApiResponse(
        PostbackTestErrorSerializer, description="Not JSON.",
        examples=[_tester_example("Not JSON", {
            "error": "unsupported_media_type",
            "message": "Send the body as JSON with Content-Type: application/json (UTF-8)."})],
    ),
    429: OpenApiResponse(
        PostbackTestErrorSerializer, description=RATE_LIMITED_DESCRIPTION + " The tester counts on its own.",
        examples=[_tester_example("Rate limited", {"error": "rate_limited", "message": RATE_LIMITED_MESSAGE})],
    ),
}

POSTBACK_TESTER_SCHEMA = {
    **POSTBACK_SCHEMA,
    "operation_id": "postbacks_test",
    "summary": "Try a postback without recording it (tester, staging credentials)",
    "description": (
        "Send exactly what you would send to `POST /api/v1/postbacks`, signed with the credentials of your "
        "staging integration. The tester runs the same checks in the same order (size, content type, "
        "authentication, the body's rules, the click_id match, the status rules) and answers with the status "
        "code and body the endpoint would have given, plus `\"test\": true`, with `event` null. It records "
        "nothing: no event, no change to any application, no refusal counted. Its nonces are kept apart from the "
        "endpoint's: a nonce used here is refused again here (so you can see a replay refused) but can still be "
        "used once on the real endpoint. Production credentials are refused with `not_a_staging_key`."
    ),
    "responses": TESTER_RESPONSES,
}
