"""POST /api/v1/postbacks, its tester, and the lender-facing documentation page.

The endpoint is a fixed pipeline, each step refusing with its own status (DESIGN.md §5):
size (413) → content type (415) → authentication on the raw bytes (401) → JSON object (400) →
strict serializer (400) → `postback_ingest`, which spends the nonce with the event (401 on a
replay; else 202, or 404 when unmatched).

The tester (POST /api/v1/postbacks/test) runs the same pipeline with the tester's
authentication (staging credentials, nothing counted, nonces of its own) and ends in
`postback_simulate` instead: same status codes and bodies, `"test": true`, no event recorded.
"""

from dataclasses import dataclass
from functools import partial

from django.http import JsonResponse
from django.views.generic import TemplateView
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from apps.postbacks import docs, inbound, services
from apps.postbacks.inbound import PostbackRefused
from apps.postbacks.schema import POSTBACK_SCHEMA, POSTBACK_TESTER_SCHEMA, PostbackSchema
from apps.postbacks.selectors import lookalike_sentence
from apps.postbacks.serializers import PostbackInputSerializer, postback_plain_validate
from apps.postbacks.services import (
    Authenticated,
    LenderChanged,
    PostbackAuthenticationError,
    PostbackData,
    postback_authenticate,
    postback_ingest,
    postback_simulate,
    postback_test_authenticate,
)

WWW_AUTHENTICATE = 'Prosperas-HMAC realm="postbacks", Bearer realm="postbacks"'


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Answers are JSON whatever the client's Accept says: a lender's error log must get the
    reason, not a 406."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PostbackIngestView(APIView):
    http_method_names = ["post"]
    authentication_classes: list = []  # authentication is the pipeline's own step, on the raw body
    permission_classes: list = []
    parser_classes = [JSONParser]  # for the schema; the body is parsed by inbound.json_object_parse
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    schema = PostbackSchema()

    refusal_fields: dict = {}  # added first to every refusal's body (the tester's "test": true)

    def dispatch(self, request, *args, **kwargs):
        """POST is answered here, on Django's request: DRF's request wrapper, authentication,
        content negotiation and renderer would do nothing for it (it authenticates on the raw
        body and always answers JSON) but cost a measurable share of each postback
        (bench/postbacks.py). Other methods go through DRF, to a 405 that says why."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        try:
            return self.post(request)
        except (PostbackAuthenticationError, PostbackRefused) as exc:
            return self.refusal(exc)

    @extend_schema(**POSTBACK_SCHEMA)
    def post(self, request):
        received = _receive(request, authenticate=postback_authenticate)
        try:
            outcome = _ingest(received)
        except LenderChanged:
            # Staff changed the lender's credentials since this process read them: the request is
            # decided again on the lender as stored now, which nothing can have changed since.
            received = _receive(request, authenticate=partial(postback_authenticate, fresh=True),
                                raw_body=received.raw_body)
            outcome = _ingest(received)
        return RESPONDERS[outcome.matched](outcome)

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise PostbackRefused(405, "method_not_allowed", f"Use POST {request.path}; {request.method} is not allowed.")

    def refusal(self, exc: PostbackAuthenticationError | PostbackRefused) -> JsonResponse:
        if isinstance(exc, PostbackAuthenticationError):
            return answer({**self.refusal_fields, "error": exc.reason, "message": exc.message}, status=401,
                          headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        return answer({**self.refusal_fields, **exc.body()}, status=exc.status)

    def handle_exception(self, exc):
        if isinstance(exc, PostbackAuthenticationError | PostbackRefused):
            return self.refusal(exc)
        return super().handle_exception(exc)


def answer(body: dict, *, status: int, headers: dict | None = None) -> JsonResponse:
    """A JSON answer written as DRF's JSONRenderer writes it (compact, UTF-8)."""
    return JsonResponse(body, status=status, headers=headers,
                        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False})


@dataclass(frozen=True)
class Received:
    authenticated: Authenticated
    data: PostbackData
    raw_body: bytes
    client_ip: str | None
    audit_headers: dict[str, str]


def _receive(http_request, *, authenticate, raw_body: bytes | None = None) -> Received:
    """The pipeline up to a validated body, shared by the endpoint and its tester. `http_request`
    is Django's request, whose stream is still unread unless its `raw_body` was read already."""
    if raw_body is None:
        raw_body = inbound.body_read(http_request)
    inbound.content_type_check(http_request)
    client_ip = inbound.client_ip(http_request)
    authenticated = authenticate(headers=http_request.headers, raw_body=raw_body, client_ip=client_ip)
    return Received(authenticated=authenticated, data=_validated(inbound.json_object_parse(raw_body)),
                    raw_body=raw_body, client_ip=client_ip, audit_headers=inbound.headers_for_audit(http_request))


def _ingest(received: Received) -> services.PostbackOutcome:
    authenticated = received.authenticated
    return postback_ingest(
        lender=authenticated.lender, data=received.data, raw_body=received.raw_body, headers=received.audit_headers,
        source_ip=received.client_ip, nonce=authenticated.nonce, lender_stored=authenticated.lender_stored,
    )


def _validated(body: dict) -> PostbackData:
    """A plain body is checked directly (postback_plain_validate says why); any other, and every
    error, by the serializer."""
    validated = postback_plain_validate(body)
    if validated is None:
        serializer = PostbackInputSerializer(data=body)
        if not serializer.is_valid():
            raise _validation_refusal(serializer.errors)
        validated = serializer.validated_data
    return PostbackData(**validated)


def _validation_refusal(errors: dict) -> PostbackRefused:
    names = ", ".join(errors)
    return PostbackRefused(400, "validation_error", f"The postback has invalid fields: {names}.", fields=errors)


def _accepted(outcome: services.PostbackOutcome) -> JsonResponse:
    """The shape of PostbackAcceptedSerializer (which documents it), built directly: this is the
    hot path, and a serializer's fields are deep-copied on every instantiation."""
    body = {"event": outcome.event_pk, "status": "accepted", "lead_status": outcome.lead_status,
            "repeat": outcome.is_repeat, "effect": str(outcome.effect)}
    return answer(body, status=202)


UNMATCHED_MESSAGE = "None of your applications has this click_id (compared byte for byte)"


def _unmatched(outcome: services.PostbackOutcome) -> JsonResponse:
    body = {"error": "unknown_click_id", "event": outcome.event_pk,
            "message": f"{UNMATCHED_MESSAGE}; the event was recorded for reconciliation."
                       + lookalike_sentence(outcome.looks_like)}
    if outcome.looks_like:
        body["looks_like"] = outcome.looks_like
    return answer(body, status=404)


# By whether the event matched one of the lender's applications.
RESPONDERS = {True: _accepted, False: _unmatched}


class PostbackTesterView(PostbackIngestView):
    """What POST /api/v1/postbacks would have answered, recording nothing (staging credentials)."""

    refusal_fields = {"test": True}

    @extend_schema(**POSTBACK_TESTER_SCHEMA)
    def post(self, request):
        received = _receive(request, authenticate=postback_test_authenticate)
        simulation = postback_simulate(lender=received.authenticated.lender, data=received.data)
        return TESTER_RESPONDERS[simulation.matched](simulation)


def _would_accept(simulation: services.PostbackSimulation) -> JsonResponse:
    moved = f"move the application from {simulation.lead_status_before} to {simulation.lead_status}"
    effects = {"applied": moved, "no_change": f"leave the application {simulation.lead_status}",
               "contradicts": f"leave the application {simulation.lead_status} and flag the event for review"}
    body = {"test": True, "event": None, "status": "accepted", "lead_status": simulation.lead_status,
            "repeat": simulation.is_repeat, "effect": simulation.effect,
            "message": f"Test only, nothing recorded: the endpoint would accept this postback and "
                       f"{effects[simulation.effect]}."}
    return answer(body, status=202)


def _would_not_match(simulation: services.PostbackSimulation) -> JsonResponse:
    body = {"test": True, "error": "unknown_click_id", "event": None,
            "message": f"Test only, nothing recorded: {UNMATCHED_MESSAGE}; the endpoint would record the event "
                       "for reconciliation and answer 404." + lookalike_sentence(simulation.looks_like)}
    if simulation.looks_like:
        body["looks_like"] = simulation.looks_like
    return answer(body, status=404)


TESTER_RESPONDERS = {True: _would_accept, False: _would_not_match}


class PostbackDocsView(TemplateView):
    """The contract for lenders, with signing examples that the test suite runs."""

    template_name = "postbacks/docs.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **docs.docs_context(self.request)}
