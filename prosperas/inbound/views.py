"""The base view of a signed inbound endpoint, in django-anymail's webhook style: a fixed
pipeline, each step refusing with its own status (DESIGN.md §5):

    the address's rate limit (429) → size (413) → content type (415) → authentication on the raw
    bytes (401) → the key's rate limit (429) → JSON object (400) → the endpoint's strict
    validation (400) → the endpoint's handler

A subclass sets what differs: `authenticate` (a callable over the headers, the raw body and the
client's address, e.g. a key store's prosperas.inbound.auth.authenticate), `rate_limit_name`
(its limits' own counts, prosperas.inbound.limits), `www_authenticate`, `json_methods`,
`refusal_fields`; and handles the request from `receive()`'s result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import translation
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from prosperas.inbound import auth, body, limits
from prosperas.inbound.refusals import AuthenticationRefused, InboundRefused


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Answers are JSON whatever the client's Accept says: a lender's error log must get the
    reason, not a 406."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def answer(payload: dict, *, status: int, headers: dict | None = None) -> JsonResponse:
    """A JSON answer written as DRF's JSONRenderer writes it (compact, UTF-8)."""
    return JsonResponse(payload, status=status, headers=headers,
                        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False})


@dataclass(frozen=True)
class Received:
    """A request past authentication: who sent it (what `authenticate` returned), its raw body,
    the body as a JSON object (None for methods without one), the client's address, and the
    headers kept for audit."""

    authenticated: Any
    raw_body: bytes
    data: dict | None
    client_ip: str | None
    audit_headers: dict[str, str]


# The language every lender-facing answer is written in.
LENDER_LANGUAGE = "en"


class SignedInboundView(APIView):
    authentication_classes: list = []  # authentication is the pipeline's own step, on the raw body
    permission_classes: list = []
    parser_classes = [JSONParser]  # for the schema; bodies are parsed by body.json_object_parse
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation

    authenticate: Callable[..., Any]  # (headers=, raw_body=, client_ip=) -> who; raises AuthenticationRefused
    www_authenticate = ""  # the WWW-Authenticate header of a 401
    json_methods = ("POST", "PUT")  # methods whose body must be a JSON object
    body_limit: int | None = None  # bytes; None: the postback contract's 64 KiB
    refusal_fields: dict = {}  # added first to every refusal's body
    rate_limit_name = ""  # the endpoint's name in its rate limits' counts (required)

    def dispatch(self, request, *args, **kwargs):
        """Lender-facing endpoints speak English with stable error codes, whatever the request's
        language (DESIGN.md §5): the locale middleware's choice is for consumers' pages."""
        with translation.override(LENDER_LANGUAGE):
            return super().dispatch(request, *args, **kwargs)

    def receive(self, http_request: HttpRequest, *, authenticate: Callable[..., Any] | None = None,
                raw_body: bytes | None = None) -> Received:
        """The pipeline up to a parsed body. `http_request` is Django's request, whose stream is
        still unread unless its `raw_body` was read already."""
        client_ip = body.client_ip(http_request)
        # Counted once per request (limits): a second pass over it (fresh credentials) is not.
        counted = None if raw_body is not None else limits.requests_count(
            endpoint=self.rate_limit_name, address=client_ip, key=auth.presented_key(http_request.headers))
        has_body = http_request.method in self.json_methods
        try:
            if counted is not None:
                counted.check(limits.ADDRESS)
                raw_body = body.body_read(http_request, limit=self.body_limit)
            if has_body:
                body.content_type_check(http_request)
            authenticated = (authenticate or type(self).authenticate)(
                headers=http_request.headers, raw_body=raw_body, client_ip=client_ip)
        except (AuthenticationRefused, InboundRefused):
            if counted is not None:  # the key's count holds only requests that authenticated
                counted.take_back(limits.KEY)
            raise
        if counted is not None:
            counted.check(limits.KEY)
        data = body.json_object_parse(raw_body) if has_body else None
        return Received(authenticated=authenticated, raw_body=raw_body, data=data, client_ip=client_ip,
                        audit_headers=body.headers_for_audit(http_request))

    def refusal(self, exc: AuthenticationRefused | InboundRefused) -> JsonResponse:
        if isinstance(exc, AuthenticationRefused):
            return answer({**self.refusal_fields, "error": exc.reason, "message": exc.message}, status=401,
                          headers={"WWW-Authenticate": self.www_authenticate})
        return answer({**self.refusal_fields, **exc.body()}, status=exc.status, headers=exc.headers)

    def handle_exception(self, exc):
        if isinstance(exc, AuthenticationRefused | InboundRefused):
            return self.refusal(exc)
        return super().handle_exception(exc)
