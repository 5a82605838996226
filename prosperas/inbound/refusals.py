"""Refusals of an inbound request, each with its HTTP status, a stable error code and a sentence
for the sender. The base view (prosperas.inbound.views) renders them."""

from __future__ import annotations

from typing import Any

# Reason codes of a 401, with the sentence sent to the lender. The postback docs page lists them all.
AUTH_FAILURE_MESSAGES = {
    "missing_headers": "Authentication headers are missing.",
    "unknown_key": "No lender is set up with this key.",
    "bad_timestamp": "X-Prosperas-Timestamp must be an ISO 8601 date-time with an offset, "
    "e.g. 2026-06-03T12:00:00.000Z.",
    "stale_timestamp": "X-Prosperas-Timestamp is more than 5 minutes away from Prosperas' clock; "
    "check your clock and sign the request again.",
    "bad_nonce": "X-Prosperas-Nonce must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -.",
    "replayed_nonce": "This nonce was already used; sign every request, retries included, with a fresh nonce.",
    "bad_signature": "The signature does not match: sign \"{timestamp}.{nonce}.{raw body}\" with HMAC-SHA256 "
    "and your secret, and send it as lowercase hex.",
    "address_not_allowed": "Requests for this key are not accepted from this address.",
}


class InboundRefused(Exception):
    """A refusal with its HTTP status, its error code and a sentence for the sender; `fields`
    names each bad field (validation errors); `headers` go on the answer (a 429's Retry-After)."""

    def __init__(self, status: int, error: str, message: str, *, fields: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields
        self.headers = headers or {}
        super().__init__(f"{status} {error}: {message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        return body


class AuthenticationRefused(Exception):
    """A request refused at authentication (401): `reason` is a code of AUTH_FAILURE_MESSAGES, or
    one of `messages` given by the endpoint that raises it. `sender` is who the key named, when
    known (the key store's object, e.g. a Lender)."""

    def __init__(self, reason: str, *, detail: str = "", sender: Any = None,
                 messages: dict[str, str] | None = None) -> None:
        self.reason = reason
        self.message = detail or {**AUTH_FAILURE_MESSAGES, **(messages or {})}[reason]
        self.sender = sender
        self.on_kept_copy = False  # decided on a process's kept copy of the sender's credentials
        super().__init__(f"{reason}: {self.message}")


def validation_refusal(errors: dict, *, what: str) -> InboundRefused:
    """400 naming each bad field: "The {what} has invalid fields: a, b."."""
    return InboundRefused(400, "validation_error", f"The {what} has invalid fields: {', '.join(errors)}.",
                          fields=errors)
