"""POST /api/v1/postbacks, and the lender-facing documentation page.

The endpoint is a fixed pipeline, each step refusing with its own status (DESIGN.md §5):
size (413) → content type (415) → authentication on the raw bytes, nonce last (401) → JSON
object (400) → strict serializer (400) → `postback_ingest` (202, or 404 when unmatched).
"""

from django.views.generic import TemplateView
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.postbacks import contract, docs, inbound, services
from apps.postbacks.inbound import PostbackRefused
from apps.postbacks.schema import POSTBACK_SCHEMA, PostbackSchema
from apps.postbacks.serializers import PostbackAcceptedSerializer, PostbackInputSerializer
from apps.postbacks.services import PostbackAuthenticationError, PostbackData, postback_authenticate, postback_ingest

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

    @extend_schema(**POSTBACK_SCHEMA)
    def post(self, request):
        http_request = request._request  # the raw stream: DRF's request.data would parse it first
        raw_body = inbound.body_read(http_request)
        inbound.content_type_check(http_request)
        client_ip = inbound.client_ip(http_request)
        lender = postback_authenticate(headers=http_request.headers, raw_body=raw_body, client_ip=client_ip)
        serializer = PostbackInputSerializer(data=inbound.json_object_parse(raw_body))
        if not serializer.is_valid():
            raise _validation_refusal(serializer.errors)
        outcome = postback_ingest(
            lender=lender, data=PostbackData(**serializer.validated_data), raw_body=raw_body,
            headers=inbound.headers_for_audit(http_request), source_ip=client_ip,
        )
        return RESPONDERS[outcome.matched](outcome)

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise PostbackRefused(405, "method_not_allowed", f"Use POST {contract.PATH}; {request.method} is not allowed.")

    def handle_exception(self, exc):
        if isinstance(exc, PostbackAuthenticationError):
            return Response({"error": exc.reason, "message": exc.message}, status=401,
                            headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        if isinstance(exc, PostbackRefused):
            return Response(exc.body(), status=exc.status)
        return super().handle_exception(exc)


def _validation_refusal(errors: dict) -> PostbackRefused:
    names = ", ".join(errors)
    return PostbackRefused(400, "validation_error", f"The postback has invalid fields: {names}.", fields=errors)


def _accepted(outcome: services.PostbackOutcome) -> Response:
    event = outcome.event
    body = {"event": event.pk, "status": "accepted", "lead_status": outcome.lead_status,
            "repeat": event.is_repeat, "effect": event.effect}
    return Response(PostbackAcceptedSerializer(body).data, status=202)


def _unmatched(outcome: services.PostbackOutcome) -> Response:
    return Response(
        {"error": "unknown_click_id", "event": outcome.event.pk,
         "message": "None of your applications has this click_id (compared byte for byte); "
                    "the event was recorded for reconciliation."},
        status=404,
    )


# By whether the event matched one of the lender's applications.
RESPONDERS = {True: _accepted, False: _unmatched}


class PostbackDocsView(TemplateView):
    """The contract for lenders, with signing examples that the test suite runs."""

    template_name = "postbacks/docs.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **docs.docs_context(self.request)}
