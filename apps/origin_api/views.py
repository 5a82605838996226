"""The origins' server-to-server API: the OAuth2 token endpoint, lead submission and polling, and
the origins' guide page.

Each view validates, calls one service or selector and shapes the answer. Answers are JSON in
English whatever the request's language, every error `{"error", "message"}` with a stable code
(validation errors add `fields`, each field's problems by path with their codes).
"""

from __future__ import annotations

from django.utils import translation
from django.views.generic import TemplateView
from drf_spectacular.utils import extend_schema
from oauth2_provider.contrib.rest_framework import TokenHasScope
from oauth2_provider.views import TokenView
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leads.services import ConsentsGiven, IdentityData
from apps.origin_api import docs, feed, schema
from apps.origin_api.oauth import OriginTokenAuthentication
from apps.origin_api.selectors import origin_lead_get, origin_lead_view
from apps.origin_api.serializers import EventPageSerializer, LeadCreatedSerializer, LeadInputSerializer, LeadSerializer
from apps.origin_api.services import (
    LeadSubmission,
    PartnerLeadConflict,
    lead_body_digest,
    origin_lead_submit,
)
from apps.origin_api.statuses import ApiStatus
from prosperas.inbound.views import LENDER_LANGUAGE

_token_view = TokenView.as_view()


class TokenApi(APIView):
    """POST /api/v1/oauth2/token: django-oauth-toolkit's token endpoint (client credentials),
    behind a DRF view so that the OpenAPI schema describes it."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [FormParser]

    @extend_schema(**schema.TOKEN_SCHEMA)
    def post(self, request):
        return _token_view(request._request)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "partner_lead_id_conflict"


class JSONAnswers(DefaultContentNegotiation):
    """Bodies are parsed by their Content-Type (anything but JSON is a 415); answers are JSON
    whatever the Accept header says, so an origin's error log gets the reason, not a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OriginApiView(APIView):
    authentication_classes = [OriginTokenAuthentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["leads"]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONAnswers

    def dispatch(self, request, *args, **kwargs):
        with translation.override(LENDER_LANGUAGE):  # partners read English, as lenders do
            return super().dispatch(request, *args, **kwargs)

    def get_exception_handler(self):
        return api_exception_handler


class LeadCreateApi(OriginApiView):
    @extend_schema(**schema.LEAD_CREATE_SCHEMA)
    def post(self, request):
        serializer = LeadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            submitted = origin_lead_submit(client=request.user.client,
                                           submission=_submission(serializer.validated_data, request.data))
        except PartnerLeadConflict:
            raise Conflict("This partnerLeadId was already used for a lead with a different body: send the same "
                           "body again to get that lead, or use a new partnerLeadId.") from None
        origin_lead = submitted.origin_lead
        # A repeat answers the lead's status now; a new lead is `created` (nothing to read for it).
        lead_status = ApiStatus.CREATED if submitted.created else origin_lead_view(origin_lead).status
        body = {"uuid": origin_lead.uuid, "status": lead_status, "trackingId": origin_lead.lead.tracking_id}
        return Response(LeadCreatedSerializer(body).data,
                        status=status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK)


class LeadDetailApi(OriginApiView):
    @extend_schema(**schema.LEAD_DETAIL_SCHEMA)
    def get(self, request, lead_uuid: str):
        caller = request.user
        origin_lead = origin_lead_get(origin=caller.origin, environment=caller.environment, lead_uuid=lead_uuid)
        if origin_lead is None:
            raise exceptions.NotFound("None of your leads has this uuid.", code="lead_not_found")
        return Response(LeadSerializer(origin_lead_view(origin_lead)).data)


class BadQuery(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_query"


class EventFeedApi(OriginApiView):
    required_scopes = ["events"]

    @extend_schema(**schema.EVENTS_SCHEMA)
    def get(self, request):
        limit = request.query_params.get("limit", str(feed.DEFAULT_LIMIT))
        if not limit.isdigit() or not 1 <= int(limit) <= feed.MAX_LIMIT:
            raise BadQuery(f"limit must be a whole number from 1 to {feed.MAX_LIMIT}.", code="invalid_limit")
        caller = request.user
        try:
            page = feed.origin_events_page(origin=caller.origin, environment=caller.environment,
                                           cursor=request.query_params.get("cursor") or None, limit=int(limit))
        except feed.CursorInvalid as invalid:
            raise BadQuery(str(invalid), code="invalid_cursor") from None
        return Response(EventPageSerializer(page).data)


def _submission(data: dict, body: dict) -> LeadSubmission:
    borrower, loan, consent = data["borrower"], data["loan"], data["consent"]
    born = borrower.get("birthDate")
    identity = IdentityData(
        document_type=borrower["documentType"], document_number=borrower["documentNumber"],
        full_name=borrower["fullName"], monthly_income=borrower["monthlyIncome"],
        birth_date=born.isoformat() if born else "", region=borrower.get("region", ""),
        requested_amount=loan["amount"], email=borrower["email"], phone=borrower["phone"],
        requested_term_months=loan["termMonths"],
    )
    extra = {name: borrower[key] for name, key in (("employment_status", "employmentStatus"),
             ("address_line", "addressLine"), ("city", "city"), ("postal_code", "postalCode")) if key in borrower}
    consents = ConsentsGiven(kinds=tuple(consent["kinds"]), text_version=consent["textVersion"],
                             ip_address=consent.get("ipAddress"), accepted_at=consent["acceptedAt"])
    return LeadSubmission(partner_lead_id=data["partnerLeadId"], identity=identity, extra_data=extra,
                          loan_purpose=loan["purpose"], consents=consents, body_digest=lead_body_digest(body))


# --- Errors --------------------------------------------------------------------------------------

# Error codes of the API's refusals by exception, where DRF's own code is not the one published.
ERROR_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.PermissionDenied: "insufficient_scope",
    exceptions.ParseError: "invalid_json",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotFound: "not_found",
}
MESSAGES = {
    "not_authenticated": "Send a bearer token from POST /api/v1/oauth2/token in the Authorization header.",
    "invalid_token": "The bearer token is unknown, expired or revoked: get a new one from POST /api/v1/oauth2/token.",
    "insufficient_scope": "This token's scopes do not include the one this endpoint needs (leads, or events for "
    "/api/v1/events).",
}


def api_exception_handler(exc, context):
    """Every refusal as {"error", "message"} (+ "fields" for validation errors)."""
    view = context["view"]
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        message = "The lead has invalid fields: " + ", ".join(fields) + "."
        return Response({"error": "validation_error", "message": message, "fields": fields}, status=400)
    if not isinstance(exc, exceptions.APIException):
        return None
    code = _code(exc, view.request)
    headers = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc.status_code = 401  # with its challenge, as RFC 6750 asks
        headers["WWW-Authenticate"] = view.get_authenticate_header(view.request) or "Bearer"
    return Response({"error": code, "message": MESSAGES.get(code) or str(exc.detail)}, status=exc.status_code,
                    headers=headers)


def _code(exc: exceptions.APIException, request) -> str:
    if isinstance(exc, exceptions.NotAuthenticated) and request.headers.get("Authorization"):
        return "invalid_token"  # a token was sent, and no client has it (unknown, expired, revoked)
    detail_code = getattr(exc.detail, "code", None)
    if detail_code and detail_code not in {exc.default_code, "invalid", "error"}:
        return detail_code
    for kind, code in ERROR_CODES.items():
        if isinstance(exc, kind):
            return code
    return exc.default_code


def flatten_errors(detail, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF's nested errors as {"borrower.documentNumber": [{"code", "message"}]}."""
    flat: dict[str, list[dict[str, str]]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix else str(name)))
    elif isinstance(detail, list) and all(isinstance(item, exceptions.ErrorDetail) for item in detail):
        flat[prefix or "non_field_errors"] = [{"code": item.code, "message": str(item)} for item in detail]
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}"))
    else:
        flat[prefix or "non_field_errors"] = [{"code": getattr(detail, "code", "invalid"), "message": str(detail)}]
    return flat


class OriginApiDocsView(TemplateView):
    """The origins' guide: a token, a lead, polling (the rules read from the serializers)."""

    template_name = "origin_api/docs.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **docs.docs_context(self.request)}
