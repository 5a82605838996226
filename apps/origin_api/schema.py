"""The OpenAPI description of the origins' API, with an example of every answer. Applied to the
views with `extend_schema(**...)`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from apps.origin_api.serializers import (
    ErrorSerializer,
    EventPageSerializer,
    LeadCreatedSerializer,
    LeadInputSerializer,
    LeadSerializer,
    ValidationErrorSerializer,
)

class OriginTokenScheme(OpenApiAuthenticationExtension):
    """The API's security scheme: OAuth2 client credentials at POST /api/v1/oauth2/token."""

    target_class = "apps.origin_api.oauth.OriginTokenAuthentication"
    name = "originOAuth2"

    def get_security_definition(self, auto_schema):
        from django.conf import settings

        return {"type": "oauth2", "flows": {"clientCredentials": {
            "tokenUrl": "/api/v1/oauth2/token", "scopes": settings.OAUTH2_PROVIDER["SCOPES"]}}}

    def get_security_requirement(self, auto_schema):
        return {self.name: list(getattr(auto_schema.view, "required_scopes", None) or ["leads"])}


TAG = "Origin API"
EXAMPLE_UUID = "3f2c1a9e-8b7d-4c6e-9a1f-2b3c4d5e6f70"
EXAMPLE_TRACKING_ID = "billeteraya_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e"

LEAD_EXAMPLE = {
    "partnerLeadId": "wallet-000123",
    "borrower": {
        "documentType": "CC", "documentNumber": "1020304050", "fullName": "Ana María Pérez",
        "birthDate": "1990-01-31", "email": "ana.perez@example.com", "phone": "+573001234567",
        "monthlyIncome": 3500000, "region": "CO-DC", "employmentStatus": "employed",
    },
    "loan": {"amount": 5000000, "termMonths": 24, "purpose": "debt_consolidation"},
    "consent": {"textVersion": "2026-11-01", "acceptedAt": "2026-12-03T10:15:00-05:00",
                "kinds": ["terms", "privacy", "data_processing"], "ipAddress": "190.24.10.8"},
}

OFFER_EXAMPLE = {
    "lenderCode": "banco-andino", "lenderName": "Banco Andino", "productId": "ln_andino_libre",
    "listingId": "lst_andino_libre", "amount": "5000000.00", "currency": "COP", "termMonths": 24,
    "monthlyPayment": "265000.00", "annualRate": "0.2850", "apr": None, "totalToRepay": "6360000.00",
    "offerUrl": "https://prosperas.example/offer/MTIuMzQ6dFhKMmVaU0Q1b0FfWk5rNjFwN2RmQ0tqVnM",
}

TOKEN_SCHEMA = {
    "tags": [TAG],
    "summary": "Get an access token (OAuth2 client credentials)",
    "description": "Authenticate with your client_id and client_secret (HTTP Basic, preferred, or in the form "
    "body) and `grant_type=client_credentials`; optionally ask for `scope=leads` or `scope=events` (both by "
    "default). Tokens last `expires_in` seconds: cache one and get a new one shortly before it expires. Errors "
    "follow RFC 6749 (`invalid_client` with 401, `unsupported_grant_type`, `invalid_scope`).",
    "auth": [],
    "request": {"application/x-www-form-urlencoded": inline_serializer("TokenRequest", {
        "grant_type": serializers.CharField(help_text="client_credentials"),
        "scope": serializers.CharField(required=False, help_text="Space-separated: leads, events."),
        "client_id": serializers.CharField(required=False, help_text="Only without HTTP Basic."),
        "client_secret": serializers.CharField(required=False, help_text="Only without HTTP Basic."),
    })},
    "responses": {
        200: OpenApiResponse(inline_serializer("TokenResponse", {
            "access_token": serializers.CharField(), "token_type": serializers.CharField(),
            "expires_in": serializers.IntegerField(), "scope": serializers.CharField(),
        }), examples=[OpenApiExample("Token", value={
            "access_token": "Yk3f9Qx0LbM2hR7wT1uV8zP4cN6dA5sE", "token_type": "Bearer", "expires_in": 3600,
            "scope": "leads events"})]),
        401: OpenApiResponse(inline_serializer("TokenError", {"error": serializers.CharField()}),
                             description="Unknown client, wrong secret, or a retired client.",
                             examples=[OpenApiExample("Invalid client", value={"error": "invalid_client"})]),
    },
}


def _error(status_name: str, error: str, message: str) -> OpenApiExample:
    return OpenApiExample(status_name, value={"error": error, "message": message}, response_only=True)


AUTH_RESPONSES = {
    401: OpenApiResponse(ErrorSerializer, description="No token, or a token that is unknown, expired or revoked, "
                         "or whose client was retired.", examples=[
        _error("No token", "not_authenticated",
               "Send a bearer token from POST /api/v1/oauth2/token in the Authorization header."),
        _error("Invalid token", "invalid_token",
               "The bearer token is unknown, expired or revoked: get a new one from POST /api/v1/oauth2/token."),
    ]),
    403: OpenApiResponse(ErrorSerializer, description="The token lacks this endpoint's scope (`leads`; `events` for "
                         "the event feed).", examples=[
        _error("Scope", "insufficient_scope", "This token's scopes do not include the one this endpoint needs "
               "(leads, or events for /api/v1/events).")
    ]),
}

LEAD_CREATE_SCHEMA = {
    "tags": [TAG],
    "summary": "Submit a lead",
    "description": "The borrower, the loan and your attestation of the borrower's consent, in one request. Every "
    "lender eligible for your campaigns is asked at once; follow the lead with GET /api/v1/leads/{uuid}. "
    "Idempotent by `partnerLeadId`: the same body again answers 200 with the same lead (and its current status); "
    "a different body under the same `partnerLeadId` is a 409. Lenders that need a field you did not send "
    "(birthDate, region, employmentStatus, address) are not asked.",
    "request": LeadInputSerializer,
    "examples": [OpenApiExample("Lead", value=LEAD_EXAMPLE, request_only=True)],
    "responses": {
        201: OpenApiResponse(LeadCreatedSerializer, description="Created.", examples=[OpenApiExample(
            "Created", response_only=True,
            value={"uuid": EXAMPLE_UUID, "status": "created", "trackingId": EXAMPLE_TRACKING_ID})]),
        200: OpenApiResponse(LeadCreatedSerializer, description="The same request came before: its lead.",
                             examples=[OpenApiExample("Repeat", response_only=True, value={
                                 "uuid": EXAMPLE_UUID, "status": "finding_products",
                                 "trackingId": EXAMPLE_TRACKING_ID})]),
        400: OpenApiResponse(ValidationErrorSerializer, description="Validation error: each bad field by its path, "
                             "with stable codes. Unknown fields are errors.", examples=[OpenApiExample(
            "Validation error", response_only=True, value={
                "error": "validation_error",
                "message": "The lead has invalid fields: borrower.documentNumber, consent.textVersion.",
                "fields": {
                    "borrower.documentNumber": [{"code": "invalid_document",
                                                 "message": "A cédula de ciudadanía has 6 to 10 digits, no letters."}],
                    "consent.textVersion": [{"code": "unknown_version", "message": "Prosperas has published no "
                                             "consent text of this version; published: 2026-11-01."}]}})]),
        **AUTH_RESPONSES,
        409: OpenApiResponse(ErrorSerializer, description="This partnerLeadId was used with a different body.",
                             examples=[_error("Conflict", "partner_lead_id_conflict", "This partnerLeadId was already "
                                              "used for a lead with a different body: send the same body again to get "
                                              "that lead, or use a new partnerLeadId.")]),
        415: OpenApiResponse(ErrorSerializer, description="The body is not application/json."),
    },
}

LEAD_DETAIL_SCHEMA = {
    "tags": [TAG],
    "summary": "A lead's status, offers and reasons",
    "description": "Poll until the status leaves created / in_progress / finding_products (every few seconds; "
    "the search ends by `searchDeadline`). offers_found: offers grouped by amount (requested, higher, lower than "
    "asked). no_offers: `reasons` per lender with its adverse action notice (sanitized HTML) when it sent one; an "
    "empty list means no lender could take the lead. timed_out: no offers by the deadline. Then product_selected, "
    "submitted, handed_off and the lender's own statuses (pre_approved, approved, disbursed, rejected, cancelled). "
    "Another origin's uuid is a 404.",
    "responses": {
        200: OpenApiResponse(LeadSerializer, examples=[
            OpenApiExample("Offers found", response_only=True, value={
                "uuid": EXAMPLE_UUID, "partnerLeadId": "wallet-000123", "trackingId": EXAMPLE_TRACKING_ID,
                "status": "offers_found", "createdAt": "2026-12-03T10:15:02-05:00",
                "searchDeadline": "2026-12-03T10:17:02-05:00", "lendersAsked": 2, "lendersAnswered": 2,
                "offers": {"requested": [OFFER_EXAMPLE], "higher": [], "lower": []}, "reasons": [],
                "selectedOffer": None}),
            OpenApiExample("No offers", response_only=True, value={
                "uuid": EXAMPLE_UUID, "partnerLeadId": "wallet-000124", "trackingId": EXAMPLE_TRACKING_ID,
                "status": "no_offers", "createdAt": "2026-12-03T10:15:02-05:00",
                "searchDeadline": "2026-12-03T10:17:02-05:00", "lendersAsked": 1, "lendersAnswered": 1,
                "offers": {"requested": [], "higher": [], "lower": []},
                "reasons": [{"lenderCode": "finanzas-ya", "lenderName": "Finanzas Ya", "category": "income",
                             "adverseActionNotice": "<p>We could not approve your application: income below our "
                             "minimum.</p>"}],
                "selectedOffer": None}),
        ]),
        **AUTH_RESPONSES,
        404: OpenApiResponse(ErrorSerializer, examples=[
            _error("Not found", "lead_not_found", "None of your leads has this uuid.")]),
    },
}

EVENT_EXAMPLE = {
    "id": "evt_5f0c6f1e2a8b4c7d9e0f1a2b3c4d5e6f", "type": "lead.lender_outcome",
    "timestamp": "2026-12-03T15:15:04.120000+00:00",
    "data": {"uuid": EXAMPLE_UUID, "partnerLeadId": "wallet-000123", "trackingId": EXAMPLE_TRACKING_ID,
             "lenderCode": "banco-andino", "lenderName": "Banco Andino", "outcome": "approved", "offers": 1,
             "status": "finding_products"},
}

EVENTS_SCHEMA = {
    "tags": [TAG],
    "summary": "Page through your leads' events",
    "description": "Every event of your leads in this environment (the status changes and lenders' outcomes our "
    "callbacks carry, with the same ids and bodies), in the order they were committed. Start without a cursor; "
    "send `nextCursor` back as `cursor` for the events after a page. Each event appears once, and no event is ever "
    "added behind a cursor already given, so paging from a stored cursor rebuilds everything since. Needs the "
    "`events` scope.",
    "parameters": [
        OpenApiParameter("cursor", str, description="`nextCursor` of the previous page; none for the first page."),
        OpenApiParameter("limit", int, description="Events per page, 1-500 (default 100)."),
    ],
    "responses": {
        200: OpenApiResponse(EventPageSerializer, examples=[OpenApiExample("A page", response_only=True, value={
            "events": [EVENT_EXAMPLE], "nextCursor": "MTI6WWZ1X2x2c0NhV0JwNm1kM3RUT1V4aw", "hasMore": False})]),
        400: OpenApiResponse(ErrorSerializer, description="A cursor this feed did not give, or a bad limit.",
                             examples=[_error("Bad cursor", "invalid_cursor",
                                              "This cursor was not given by this feed.")]),
        **AUTH_RESPONSES,
    },
}
