"""The product data API for lenders: /api/v1/products.

Lenders authenticate exactly as they do for postbacks (same keys, same signing over the raw
body, same nonce rules): the pipeline is size (413) → content type (415) → authentication on the
raw bytes (401) → JSON object (400) → strict fields (400) → the service. What a lender sends is
never live at once: a new product waits in review, a change waits as a revision, and staff
approve either in admin.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from apps.lenders.models import Lender
from apps.lenders.signed_requests import LENDER_KEYS
from apps.products.models import AGE_LIMITS, DOCUMENT_TYPES, REGIONS, Product
from apps.products.selectors import product_data, product_kind_choices, product_pending_revision
from apps.products.services import ProductNotFound, ProductSubmission, product_lender_submit
from prosperas.inbound import auth, bounds
from prosperas.inbound.fields import CurrencyField, StrictBodySerializer, StrictCharField, unknown_fields
from prosperas.inbound.refusals import InboundRefused, validation_refusal
from prosperas.inbound.schema import HEADER_PARAMETERS, RATE_LIMITED_DESCRIPTION, SignedRequestSchema
from prosperas.inbound.views import SignedInboundView


class DecimalStringField(serializers.DecimalField):
    """Money and rates as decimal strings ("1500000.00", "0.2890"), never JSON numbers (floats)."""

    default_error_messages = {"not_a_string": 'Must be a decimal string, e.g. "1500000.00".'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        try:
            Decimal(data)
        except InvalidOperation:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"not_an_integer": "Must be a JSON integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class ProductDataSerializer(StrictBodySerializer):
    """A product's data as a lender sends it. Unknown fields are errors; absent optional fields
    take their default (no fee, no eligibility limit)."""

    lender_reference = StrictCharField(
        max_length=64, min_length=1,
        help_text="Your own code for this product: sending it again updates the same product.",
    )
    name = StrictCharField(max_length=120, min_length=1)
    kind = StrictCharField(max_length=20, help_text="personal, payroll, micro, or a kind Prosperas added for you.")
    currency = CurrencyField()
    min_amount = DecimalStringField(max_digits=14, decimal_places=2, min_value=Decimal(1))
    max_amount = DecimalStringField(max_digits=14, decimal_places=2, min_value=Decimal(1))
    min_term_months = StrictIntegerField(min_value=1, max_value=bounds.MAX_TERM_MONTHS)
    max_term_months = StrictIntegerField(min_value=1, max_value=bounds.MAX_TERM_MONTHS)
    min_annual_rate = DecimalStringField(max_digits=6, decimal_places=4, min_value=Decimal(0),
                                         help_text='Effective annual rate (E.A.): "0.1990" is 19.90 %.')
    max_annual_rate = DecimalStringField(max_digits=6, decimal_places=4, min_value=Decimal(0))
    apr = DecimalStringField(max_digits=6, decimal_places=4, min_value=Decimal(0), required=False, allow_null=True,
                             default=None, help_text="Total annual cost including fees (E.A.).")
    opening_fee = DecimalStringField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False,
                                     default=Decimal(0))
    opening_fee_percent = DecimalStringField(max_digits=6, decimal_places=4, min_value=Decimal(0),
                                             max_value=Decimal(1), required=False, default=Decimal(0))
    monthly_fee = DecimalStringField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False,
                                     default=Decimal(0))
    min_monthly_income = StrictIntegerField(min_value=0, max_value=bounds.MAX_MONTHLY_INCOME, required=False,
                                            allow_null=True, default=None, help_text="Whole pesos; empty: no minimum.")
    document_types = serializers.ListField(child=serializers.ChoiceField(choices=sorted(DOCUMENT_TYPES)),
                                           required=False, default=list, max_length=len(DOCUMENT_TYPES))
    min_age = StrictIntegerField(min_value=AGE_LIMITS[0], max_value=AGE_LIMITS[1], required=False, allow_null=True,
                                 default=None)
    max_age = StrictIntegerField(min_value=AGE_LIMITS[0], max_value=AGE_LIMITS[1], required=False, allow_null=True,
                                 default=None)
    regions = serializers.ListField(child=serializers.ChoiceField(choices=sorted(REGIONS)), required=False,
                                    default=list, max_length=len(REGIONS), help_text="ISO 3166-2:CO codes; empty: all.")
    disclosure = StrictCharField(max_length=10_000, required=False, allow_blank=True, default="")
    logo_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="",
                                    help_text="An https address of your logo.")

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = unknown_fields(data, self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate_kind(self, value: str) -> str:
        kinds = dict(product_kind_choices())  # read per request: staff add kinds in admin
        if value not in kinds:
            raise serializers.ValidationError(f"Must be one of: {', '.join(kinds)}.")
        return value

    def validate_logo_url(self, value: str) -> str:
        if value and not value.startswith("https://"):
            raise serializers.ValidationError("Must be an https address.")
        return value


class ProductDataOutputSerializer(ProductDataSerializer):
    """A product's data as this API answers it: what a lender sends, except that a product
    Prosperas set up for the lender (in admin) may have no lender_reference ("")."""

    lender_reference = StrictCharField(
        max_length=64, allow_blank=True,
        help_text="Your own code for this product; empty for a product Prosperas set up for you without one.",
    )


class ProductOutputSerializer(serializers.Serializer):
    product_id = serializers.CharField()
    state = serializers.ChoiceField(choices=Product.State.choices)
    pending_revision = serializers.IntegerField(allow_null=True, help_text="The change waiting for review, if any.")
    data = ProductDataOutputSerializer(
        help_text="The data consumers see (or will see once approved, for a new product).")


def _product_body(product: Product) -> dict:
    revision = product_pending_revision(product)
    return {"product_id": product.product_id, "state": product.state,
            "pending_revision": revision.pk if revision else None, "data": product_data(product)}


ERROR_BODY = inline_serializer("ProductApiError", fields={
    "error": serializers.CharField(), "message": serializers.CharField(),
    "fields": serializers.DictField(required=False),
})
COMMON_RESPONSES = {
    400: OpenApiResponse(ERROR_BODY, description="validation_error: each bad field is named in `fields`."),
    401: OpenApiResponse(ERROR_BODY, description="Authentication failed, exactly as for postbacks."),
    413: OpenApiResponse(ERROR_BODY, description="The body is over 64 KiB."),
    415: OpenApiResponse(ERROR_BODY, description="Not JSON."),
    429: OpenApiResponse(ERROR_BODY, description=RATE_LIMITED_DESCRIPTION),
}
ACCEPTED = OpenApiResponse(
    ProductOutputSerializer, description="Your change is waiting for Prosperas' review; consumers keep "
    "seeing the current data until it is approved.",
)
EXAMPLE = OpenApiExample("Personal loan", request_only=True, value={
    "lender_reference": "PL-STD", "name": "Crédito de libre inversión", "kind": "personal", "currency": "COP",
    "min_amount": "1000000.00", "max_amount": "30000000.00", "min_term_months": 12, "max_term_months": 60,
    "min_annual_rate": "0.1990", "max_annual_rate": "0.2890", "apr": "0.3100", "opening_fee": "0.00",
    "opening_fee_percent": "0.0000", "monthly_fee": "4500.00", "min_monthly_income": 1300000,
    "document_types": ["CC", "CE"], "min_age": 18, "max_age": 75, "regions": [],
    "disclosure": "Tasa efectiva anual fija.", "logo_url": "https://lender.example/logo.svg",
})


def lender_authenticate(*, headers, raw_body: bytes, client_ip: str | None) -> Lender:
    """Authenticated exactly as postbacks are (same keys, signing and refusals, counted); the
    nonce is spent at once (nothing else records it). The lender with all its fields: this API
    uses more than authentication reads."""
    lender = auth.authenticate_spending_nonce(LENDER_KEYS, headers=headers, raw_body=raw_body,
                                              client_ip=client_ip).sender
    lender.refresh_from_db()
    return lender


class LenderProductView(SignedInboundView):
    """The shared pipeline (prosperas.inbound.views), then the product data's strict fields."""

    schema = SignedRequestSchema()  # declares the HMAC and bearer security schemes
    authenticate = staticmethod(lender_authenticate)
    www_authenticate = 'Prosperas-HMAC realm="products", Bearer realm="products"'
    rate_limit_name = "products"

    def lender_and_data(self, request) -> tuple[Any, dict | None]:
        received = self.receive(request._request)  # the raw stream: DRF's request.data would parse it first
        if received.data is None:
            return received.authenticated, None
        serializer = ProductDataSerializer(data=received.data)
        if not serializer.is_valid():
            raise _refusal(serializer.errors)
        return received.authenticated, dict(serializer.validated_data)

    def submit(self, request, product_id: str | None = None) -> Response:
        lender, data = self.lender_and_data(request)
        try:
            submission: ProductSubmission = product_lender_submit(lender=lender, data=data, product_id=product_id)
        except ValidationError as error:
            fields = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
            raise _refusal(fields) from None
        body = _product_body(submission.product)
        return Response(body, status=201 if submission.created else 202)

    def handle_exception(self, exc):
        if isinstance(exc, ProductNotFound):
            return Response({"error": "unknown_product_id", "message": str(exc)}, status=404)
        return super().handle_exception(exc)


def _refusal(errors: dict) -> InboundRefused:
    return validation_refusal(errors, what="product data")


class ProductCollectionView(LenderProductView):
    @extend_schema(
        operation_id="products_create", tags=["product data"],
        summary="Send a new product (or update by lender_reference)",
        description="Creates a product in review and returns its Prosperas `product_id` (201). If one of your "
        "products already has this `lender_reference`, this is a change of that product instead (202), so a "
        "retried request never creates a second product. Signed exactly like postbacks: /docs/postbacks/.",
        request=ProductDataSerializer, parameters=HEADER_PARAMETERS, examples=[EXAMPLE],
        responses={201: OpenApiResponse(ProductOutputSerializer, description="Created, in review."), 202: ACCEPTED,
                   **COMMON_RESPONSES},
    )
    def post(self, request):
        return self.submit(request)

    @extend_schema(
        operation_id="products_list", tags=["product data"], summary="Your products",
        description="Every product of yours, with its state and any change waiting for review. Sign the request "
        "like a postback, over an empty body.",
        parameters=HEADER_PARAMETERS, responses={200: ProductOutputSerializer(many=True), **COMMON_RESPONSES},
    )
    def get(self, request):
        lender, _ = self.lender_and_data(request)
        products = Product.objects.filter(lender=lender).order_by("product_id")
        return Response([_product_body(product) for product in products])


class ProductItemView(LenderProductView):
    @extend_schema(
        operation_id="products_update", tags=["product data"], summary="Change one of your products",
        description="Replaces the product's data with this body once Prosperas approves it (202). A newer "
        "change replaces one still waiting for review.",
        request=ProductDataSerializer, parameters=HEADER_PARAMETERS, examples=[EXAMPLE],
        responses={202: ACCEPTED, 404: OpenApiResponse(ERROR_BODY, description="unknown_product_id."),
                   **COMMON_RESPONSES},
    )
    def put(self, request, product_id: str):
        return self.submit(request, product_id=product_id)

    @extend_schema(
        operation_id="products_retrieve", tags=["product data"], summary="One of your products",
        description="Its state, the data consumers see, and the id of a change waiting for review if any. Sign "
        "the request like a postback, over an empty body.",
        parameters=HEADER_PARAMETERS,
        responses={200: ProductOutputSerializer, 404: OpenApiResponse(ERROR_BODY, description="unknown_product_id."),
                   **COMMON_RESPONSES},
    )
    def get(self, request, product_id: str):
        lender, _ = self.lender_and_data(request)
        product = Product.objects.filter(lender=lender, product_id=product_id).first()
        if product is None:
            raise ProductNotFound(f"You have no product {product_id}.")
        return Response(_product_body(product))
