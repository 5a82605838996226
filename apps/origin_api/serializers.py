"""The bodies of the origins' API, in and out. Input is strict, as the lenders' postbacks are:
each field takes only the JSON type it names, unknown fields are errors, and every error names
its field by path (borrower.documentNumber) with a stable code and an English sentence.

The help_text of each field is the rule published in the OpenAPI schema and the origins' guide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.leads.consents import REQUIRED_CONSENT_KINDS, consent_version_published_on, consent_versions_published
from apps.leads.consumer_data import (
    ADULT_AGE,
    DOCUMENT_PATTERNS,
    DOCUMENT_TYPE_CODES,
    FULL_NAME_PATTERN,
    MAX_MONTHLY_INCOME,
    POSTAL_CODE_PATTERN,
    REGION_CODES,
    age_on,
    document_number_normalise,
    mobile_normalise,
)
from apps.lenders.adapters.base import EMPLOYMENT_STATUSES
from apps.origin_api.models import LoanPurpose
from apps.origin_api.statuses import API_STATUSES
from apps.postbacks.serializers import OffsetDateTimeField
from prosperas.inbound.fields import PatternField, StrictCharField, StrictChoiceField, unknown_fields

MAX_LOAN_AMOUNT = 1_000_000_000_000  # whole pesos; Lead.requested_amount is a bigint
DOCUMENT_MESSAGES = {
    "CC": "A cédula de ciudadanía has 6 to 10 digits, no letters.",
    "CE": "A cédula de extranjería has 6 to 10 letters or digits.",
    "PA": "A passport number has 5 to 15 letters or digits.",
}


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no string, no decimals, no boolean (DRF's IntegerField takes "5" and 5.0)."""

    default_error_messages = {"not_an_integer": "Must be a JSON integer: no quotes, no decimals."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class PartnerLeadIdField(PatternField):
    pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}", re.ASCII)
    default_error_messages = {"no_match": "Must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', "
                                          "starting with a letter or digit."}


class StrictSerializer(serializers.Serializer):
    """Unknown fields are errors (code `unknown_field`), reported with the others in one round."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": [ErrorDetail("Must be a JSON object.", code="not_an_object")]})
        errors: dict[str, Any] = {}
        value: dict[str, Any] = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            errors.update(error.detail)
        for name in unknown_fields(data, self.fields):
            errors[name] = [ErrorDetail("Unknown field: the lead contract has no such field.", code="unknown_field")]
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _error(message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError(ErrorDetail(message, code=code))


class BorrowerSerializer(StrictSerializer):
    documentType = StrictChoiceField(choices=DOCUMENT_TYPE_CODES, help_text="Required. CC, CE or PA (passport).")
    documentNumber = StrictCharField(
        max_length=30, help_text="Required. Spaces, dots and hyphens are ignored; CC: 6-10 digits; CE: 6-10 letters "
        "or digits; PA: 5-15 letters or digits.")
    fullName = StrictCharField(min_length=3, max_length=120,
                               help_text="Required. 3-120 characters, letters only, as on the document.")
    birthDate = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"],
        help_text="Optional. YYYY-MM-DD; the borrower must be of age (18). Some lenders need it.")
    email = serializers.EmailField(max_length=254, help_text="Required. The borrower's email address.")
    phone = StrictCharField(max_length=25, help_text="Required. A Colombian mobile number: 10 digits starting "
                            "with 3, optionally after +57.")
    monthlyIncome = StrictIntegerField(
        min_value=1, max_value=MAX_MONTHLY_INCOME - 1,
        help_text="Required. Monthly income in whole Colombian pesos (COP), a JSON integer.")
    region = StrictChoiceField(required=False, choices=REGION_CODES,
                               help_text="Optional. ISO 3166-2:CO department code, e.g. CO-DC. Some lenders need it.")
    employmentStatus = StrictChoiceField(required=False, choices=list(EMPLOYMENT_STATUSES),
                                         help_text="Optional. " + ", ".join(EMPLOYMENT_STATUSES) + ". Some lenders "
                                         "need it.")
    addressLine = StrictCharField(required=False, min_length=3, max_length=120, help_text="Optional. Home address.")
    city = StrictCharField(required=False, min_length=2, max_length=60, help_text="Optional. City or municipality.")
    postalCode = StrictCharField(required=False, help_text="Optional. 6 digits, e.g. 110111.")

    def validate_fullName(self, value: str) -> str:
        value = " ".join(value.split())
        if not FULL_NAME_PATTERN.fullmatch(value):
            raise _error("Must be letters only (words joined by spaces, apostrophes, dots or hyphens).", "invalid_name")
        return value

    def validate_phone(self, value: str) -> str:
        phone = mobile_normalise(value)
        if phone is None:
            raise _error("Must be a Colombian mobile number: 10 digits starting with 3, optionally after +57.",
                         "invalid_mobile")
        return phone

    def validate_birthDate(self, value):
        age = age_on(value, timezone.localdate())
        if value > timezone.localdate() or age > 110:
            raise _error("Does not look like a birth date.", "not_a_birth_date")
        if age < ADULT_AGE:
            raise _error(f"The borrower must be at least {ADULT_AGE} years old.", "under_age")
        return value

    def validate_postalCode(self, value: str) -> str:
        if not POSTAL_CODE_PATTERN.fullmatch(value):
            raise _error("Must be 6 digits, e.g. 110111.", "invalid_postal_code")
        return value

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """The document number is checked against its type with the other fields, so that every
        problem is named in one round (a serializer's validate() runs only once fields are valid)."""
        errors: dict[str, Any] = {}
        value: dict[str, Any] = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            errors = dict(error.detail)
        document_type, number = data.get("documentType"), data.get("documentNumber")
        if document_type in DOCUMENT_PATTERNS and isinstance(number, str) and "documentNumber" not in errors:
            number = document_number_normalise(number)
            if not DOCUMENT_PATTERNS[document_type].fullmatch(number):
                errors["documentNumber"] = [ErrorDetail(DOCUMENT_MESSAGES[document_type], code="invalid_document")]
            value["documentNumber"] = number
        if errors:
            raise serializers.ValidationError(errors)
        return value


class LoanSerializer(StrictSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_LOAN_AMOUNT,
                                help_text="Required. The amount asked for, in whole Colombian pesos (a JSON integer).")
    termMonths = StrictIntegerField(min_value=1, max_value=120, help_text="Required. The term asked for: 1-120 months.")
    purpose = StrictChoiceField(choices=LoanPurpose.values, help_text="Required. " + ", ".join(LoanPurpose.values) + ".")


class ConsentSerializer(StrictSerializer):
    textVersion = StrictCharField(
        max_length=40, help_text="Required. The version of Prosperas' consent texts the borrower was shown: one "
        "Prosperas has published (staff publish them in admin; an unknown version is refused and the answer lists "
        "the published ones).")
    acceptedAt = OffsetDateTimeField(help_text="Required. When the borrower accepted: ISO 8601 with an offset, not "
                                     "in the future and not before that version was published.")
    kinds = serializers.ListField(
        child=StrictChoiceField(choices=list(REQUIRED_CONSENT_KINDS)), allow_empty=False,
        help_text="Required. What the borrower accepted: all of " + ", ".join(REQUIRED_CONSENT_KINDS) + ".")
    ipAddress = serializers.IPAddressField(required=False, help_text="Optional. The borrower's IP address when they "
                                           "accepted.")

    def validate_textVersion(self, value: str) -> str:
        if consent_version_published_on(value) is None:
            raise _error("Prosperas has published no consent text of this version; published: "
                         + ", ".join(consent_versions_published()) + ".", "unknown_version")
        return value

    def validate_kinds(self, value: list[str]) -> list[str]:
        missing = [kind for kind in REQUIRED_CONSENT_KINDS if kind not in value]
        if missing:
            raise _error("The borrower must accept every text; missing: " + ", ".join(missing) + ".", "incomplete")
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict) -> dict:
        published = consent_version_published_on(attrs["textVersion"])
        if attrs["acceptedAt"].date() < published:
            raise serializers.ValidationError({"acceptedAt": [ErrorDetail(
                f"Must not be before {published.isoformat()}, when this version was published.",
                code="before_publication")]})
        return attrs


class LeadInputSerializer(StrictSerializer):
    partnerLeadId = PartnerLeadIdField(help_text="Required. Your own id for this lead, 1-128 characters; never "
                                       "personal data. Sending it again with the same body returns the same lead.")
    borrower = BorrowerSerializer()
    loan = LoanSerializer()
    consent = ConsentSerializer(help_text="Required. Your attestation that the borrower accepted Prosperas' "
                                "consent texts on your screen.")


# --- Out -----------------------------------------------------------------------------------------


class LeadCreatedSerializer(serializers.Serializer):
    uuid = serializers.UUIDField(help_text="The lead's id at Prosperas: GET /api/v1/leads/{uuid}.")
    status = serializers.ChoiceField(choices=API_STATUSES,
                                     help_text='"created" for a new lead; a repeat answers the lead\'s current status.')
    trackingId = serializers.CharField(help_text="The journey's tracking ID, as lenders see it (click_id).")


class MoneyField(serializers.DecimalField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=16, decimal_places=2, coerce_to_string=True, **kwargs)


class OfferSerializer(serializers.Serializer):
    lenderCode = serializers.CharField(source="lender_code")
    lenderName = serializers.CharField(source="lender_name")
    productId = serializers.CharField(source="product_id", help_text="The Prosperas product_id.")
    listingId = serializers.CharField(source="listing_id", help_text="The Prosperas listing_id.")
    amount = MoneyField(source="offer.amount", help_text="A decimal string.")
    currency = serializers.CharField(source="offer.currency")
    termMonths = serializers.IntegerField(source="offer.term_months")
    monthlyPayment = MoneyField(source="offer.monthly_payment")
    annualRate = serializers.DecimalField(
        source="offer.annual_rate", max_digits=7, decimal_places=4,
        help_text="The effective annual rate (E.A.) as a fraction: 0.2850 is 28.50 % E.A.")
    apr = serializers.DecimalField(max_digits=7, decimal_places=4, allow_null=True,
                                   help_text="The APR as a fraction, when the lender gives one; else null.")
    totalToRepay = MoneyField(source="total_to_repay", help_text="The monthly payment times the term.")
    offerUrl = serializers.URLField(source="offer_url", help_text="Ours: open it in the borrower's browser when "
                                    "they choose this offer. It records product_selected, sends the application "
                                    "to the lender and takes the borrower to the lender's site. When that lender "
                                    "needs a field your lead did not carry (an address, say), a short page of ours "
                                    "asks the borrower for just that field first.")


class OfferGroupsSerializer(serializers.Serializer):
    requested = OfferSerializer(many=True, help_text="Offers for the amount asked for.")
    higher = OfferSerializer(many=True, help_text="Offers for more than the amount asked for.")
    lower = OfferSerializer(many=True, help_text="Offers for less than the amount asked for.")


class ReasonSerializer(serializers.Serializer):
    lenderCode = serializers.CharField(source="lender_code")
    lenderName = serializers.CharField(source="lender_name")
    category = serializers.CharField(help_text="income, age, region, existing_customer, credit_policy, "
                                     "incomplete_data or other.")
    adverseActionNotice = serializers.CharField(
        source="adverse_action_notice", allow_null=True,
        help_text="The lender's notice of action taken, as HTML sanitized by Prosperas; null when it sent none.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["adverseActionNotice"] = data["adverseActionNotice"] or None
        return data


class SelectedOfferSerializer(serializers.Serializer):
    lenderCode = serializers.CharField(source="lender_code")
    productId = serializers.CharField(source="product_id")
    listingId = serializers.CharField(source="listing_id")


class LeadSerializer(serializers.Serializer):
    uuid = serializers.UUIDField(source="origin_lead.uuid")
    partnerLeadId = serializers.CharField(source="origin_lead.partner_lead_id")
    trackingId = serializers.CharField(source="lead.tracking_id")
    status = serializers.ChoiceField(choices=API_STATUSES)
    createdAt = serializers.DateTimeField(source="origin_lead.created_at")
    searchDeadline = serializers.DateTimeField(
        source="origin_lead.search_deadline", help_text="A search with no offers by this moment ends timed_out.")
    lendersAsked = serializers.IntegerField(source="lenders_asked")
    lendersAnswered = serializers.IntegerField(source="lenders_answered")
    offers = OfferGroupsSerializer(help_text="Grouped by amount; offers may be listed while finding_products.")
    reasons = ReasonSerializer(many=True, help_text="Why each lender said no, when no lender made an offer.")
    selectedOffer = SelectedOfferSerializer(source="selected", allow_null=True,
                                            help_text="The offer chosen, from product_selected on; else null.")


class EventSerializer(serializers.Serializer):
    """An event as its callback carried it (the callback's body is this object without `sequence`)."""

    id = serializers.CharField(source="public_id", help_text="The event's id: `webhook-id` of its callbacks.")
    type = serializers.ChoiceField(choices=["lead.status_changed", "lead.lender_outcome"])
    timestamp = serializers.CharField(source="payload.timestamp", help_text="When it happened (ISO 8601).")
    data = serializers.DictField(source="payload.data", help_text="lead.status_changed: the lead as GET "
                                 "/api/v1/leads/{uuid} showed it then. lead.lender_outcome: uuid, partnerLeadId, "
                                 "trackingId, lenderCode, lenderName, outcome (approved, rejected, failed), offers, "
                                 "status.")


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True, help_text="In commit order; at most `limit`.")
    nextCursor = serializers.CharField(source="next_cursor", help_text="Send it as `cursor` for the events after "
                                       "these; opaque (store it, never parse it).")
    hasMore = serializers.BooleanField(source="has_more", help_text="More events are ready now: ask again at once.")


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A stable code to branch on.")
    message = serializers.CharField(help_text="A sentence for the person reading your logs.")


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code for this problem.")
    message = serializers.CharField()


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(child=FieldErrorSerializer(many=True),
                                   help_text="Each bad field by its path (borrower.documentNumber), with its problems.")
