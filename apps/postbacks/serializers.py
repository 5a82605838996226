"""The postback body, validated strictly (DESIGN.md §5, seed 004: "callback DTOs are strict").

Every field takes only the JSON type the contract names (no number where a string is due, no
null for an absent field), unknown top-level fields are errors, and text is never trimmed:
click_id must come back byte for byte, so no field here strips whitespace.

The help_text of each input field is the rule published in the OpenAPI schema and on the
documentation page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils import timezone, translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.postbacks import contract
from apps.postbacks.models import PostbackEvent
from apps.postbacks.selectors import MANGLINGS
from apps.products.models import PRODUCT_ID_VALIDATOR
from prosperas.inbound import body, bounds
from prosperas.inbound.fields import (
    CurrencyField,
    PatternField,
    StrictBodySerializer,
    StrictCharField,
    StrictChoiceField,
    unknown_fields,
)
from prosperas.inbound.refusals import InboundRefused, validation_refusal
from prosperas.inbound.schema import storable_json_object_field_schema

AMOUNT_PATTERN = re.compile(r"(?P<units>[0-9]+)(?:\.[0-9]{1,2})?")
AMOUNT_MAX_UNIT_DIGITS = bounds.AMOUNT_MAX_UNIT_DIGITS  # PostbackEvent.amount: 14 digits, 2 of them decimals
# The products app's own pattern, matched whole and ASCII-only (RegexValidator's search with "$"
# would let a trailing newline through).
PRODUCT_ID_PATTERN = re.compile(PRODUCT_ID_VALIDATOR.regex.pattern, re.ASCII)


@extend_schema_field({"type": "string", "pattern": PRODUCT_ID_VALIDATOR.regex.pattern, "maxLength": 40,
                      "example": "ln_personal_01"})
class ProductIdField(PatternField):
    pattern = PRODUCT_ID_PATTERN
    default_error_messages = {"no_match": "Must be a Prosperas product_id, e.g. ln_personal_01."}


# The amount's rules as one pattern: digits (at most 12 once leading zeros are dropped), then
# optionally a dot and one or two decimals, and greater than zero (a non-zero digit somewhere).
AMOUNT_SCHEMA_PATTERN = (rf"^(0*[1-9][0-9]{{0,{bounds.AMOUNT_MAX_UNIT_DIGITS - 1}}}(\.[0-9]{{1,2}})?"
                         r"|0+\.(0[1-9]|[1-9][0-9]?))$")


@extend_schema_field({"type": "string", "pattern": AMOUNT_SCHEMA_PATTERN, "example": "1500000.00"})
class AmountField(StrictCharField):
    """A decimal string such as "1500000.00": greater than zero, at most 2 decimal places."""

    default_error_messages = {
        "invalid_amount": 'Must be a decimal string such as "1500000.00": digits, then optionally a dot '
        "and one or two decimals.",
        "not_positive": "Must be greater than zero.",
        "too_large": f"Must have at most {AMOUNT_MAX_UNIT_DIGITS} digits before the decimal point.",
    }

    def to_internal_value(self, data: Any) -> Decimal:  # type: ignore[override]
        text = super().to_internal_value(data)
        match = AMOUNT_PATTERN.fullmatch(text)
        if match is None:
            self.fail("invalid_amount")
        if len(match["units"].lstrip("0")) > AMOUNT_MAX_UNIT_DIGITS:
            self.fail("too_large")
        value = Decimal(text)
        if value <= 0:
            self.fail("not_positive")
        return value

    def to_representation(self, value: Any) -> str:
        return str(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeField(serializers.Field):
    """ISO 8601 with an offset, within the inbound window (prosperas.inbound.bounds): not before
    2000-01-01 (a default date such as .NET's DateTime.MinValue must not be stored: no page could
    show it), and not more than the timestamp tolerance ahead of our clock."""

    default_error_messages = {
        "not_a_string": "Must be a JSON string.",
        "invalid": f"Must be an ISO 8601 date-time with an offset, e.g. {contract.OFFSET_DATETIME_EXAMPLE}.",
        "future": "Must not be in the future (more than 5 minutes ahead of Prosperas' clock).",
        "too_old": f"Must not be before {bounds.EARLIEST_MOMENT_TEXT}.",
    }

    def to_internal_value(self, data: Any):
        if not isinstance(data, str):
            self.fail("not_a_string")
        moment = contract.parse_offset_datetime(data)
        if moment is None:
            self.fail("invalid")
        problem = bounds.moment_problem(moment, ahead_seconds=contract.timestamp_tolerance_seconds(),
                                        now=timezone.now())
        if problem:
            self.fail(problem)
        return moment

    def to_representation(self, value: Any) -> str:
        return value.isoformat()


@extend_schema_field(storable_json_object_field_schema())
class JSONObjectField(serializers.JSONField):
    """A JSON object we can store: PostgreSQL's jsonb holds no NUL character (\u0000) and no number
    beyond a double (1e400 parses as infinity). Unpaired surrogates never get this far: the body
    holding one is refused as a whole (prosperas.inbound.body.json_object_parse)."""

    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "unstorable": "Must not contain the NUL character (\\u0000) or numbers too large for a double.",
    }

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        if not body.json_storable(data):
            self.fail("unstorable")
        return super().to_internal_value(data)


class PostbackInputSerializer(StrictBodySerializer):
    """The postback body. Unknown top-level fields are validation errors, and currency is required
    with amount."""

    schema_rules = {"dependentRequired": {"amount": ["currency"]}}

    click_id = StrictCharField(
        min_length=1, max_length=255,
        help_text="Required. 1-255 characters, exactly as Prosperas sent it (never trimmed, re-cased or parsed).",
    )
    status = StrictChoiceField(
        choices=PostbackEvent.Status.choices,
        help_text="Required. One of pre_approved, approved, rejected, disbursed, cancelled.",
    )
    event_id = StrictCharField(
        required=False, min_length=1, max_length=128,
        help_text="Optional. Your own event reference, 1-128 characters; keep it when you retry.",
    )
    occurred_at = OffsetDateTimeField(
        required=False,
        help_text="Optional. When it happened: ISO 8601 with an offset, not in the future and not before "
        f"{bounds.EARLIEST_MOMENT_TEXT}; defaults to the time we receive it.",
    )
    product_id = ProductIdField(
        required=False, max_length=40,
        help_text="Optional. The Prosperas product_id, e.g. ln_personal_01.",
    )
    amount = AmountField(
        required=False,
        help_text='Optional. A decimal string greater than zero, with at most 12 digits before the decimal point '
        '(leading zeros aside) and at most 2 after it, e.g. "1500000.00". Requires currency.',
    )
    currency = CurrencyField(
        required=False,
        help_text="Optional; required with amount. 3 uppercase letters (ISO 4217), e.g. COP.",
    )
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=512,
        help_text="Optional. Up to 512 characters: the rejection or cancellation reason.",
    )
    lender_reference = StrictCharField(
        required=False, allow_blank=True, max_length=128,
        help_text="Optional. Your application reference, up to 128 characters.",
    )
    metadata = JSONObjectField(required=False, help_text="Optional. A JSON object for anything else.")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """All errors at once: field rules, unknown fields and currency-with-amount together, so a
        lender fixes its payload in one round."""
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected a dictionary" error
        errors: dict[str, list] = {}
        value: dict[str, Any] = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            errors.update(error.detail)
        for name in unknown_fields(data, self.fields):
            errors[name] = ["Unknown field: the postback contract has no such field."]
        if "amount" in data and "currency" not in data:
            errors.setdefault("currency", []).append("Required when amount is given.")
        if errors:
            raise serializers.ValidationError(errors)
        return value


# --- The one validation path ----------------------------------------------------------------------
#
# A DRF serializer deep-copies its fields on every instantiation: a third of a millisecond per
# postback, most of the endpoint's Python after its SQL. So the endpoint and the tester validate
# with one instance per process and language, built once, by its run_validation, which keeps
# nothing on the instance (is_valid would: validated_data, errors); its fields hold no state
# between calls. Per language, because DRF words a length limit once per field instance, in the
# language active then. The serializer stays the one source of the rules and of their wording.

_validators: dict[str | None, PostbackInputSerializer] = {}


def _validator() -> PostbackInputSerializer:
    language = translation.get_language()
    validator = _validators.get(language)
    if validator is None:
        validator = PostbackInputSerializer()
        validator.fields  # built now, once, rather than by the requests that share it
        _validators[language] = validator
    return validator


def postback_body_validate(data: dict[str, Any]) -> dict[str, Any]:
    """The postback body's validated data (PostbackInputSerializer's), or a 400 InboundRefused
    naming each bad field with the serializer's own messages."""
    try:
        return _validator().run_validation(data)
    except serializers.ValidationError as error:
        raise postback_validation_refusal(error.detail) from None


def postback_validation_refusal(errors: dict) -> InboundRefused:
    return validation_refusal(errors, what="postback")


# Always "accepted", described by a pattern: a one-choice enum named "status" would collide with the
# input's status enum in the schema (OpenAPI 3.0 has no const).
@extend_schema_field({"type": "string", "pattern": "^accepted$", "example": "accepted"})
class AcceptedField(serializers.CharField):
    pass


class PostbackAcceptedSerializer(serializers.Serializer):
    event = serializers.IntegerField(help_text="The id of the recorded event.")
    status = AcceptedField(help_text='Always "accepted".')
    lead_status = serializers.CharField(help_text="The application's status after this event.")
    repeat = serializers.BooleanField(
        help_text="True when an earlier event of this application had the same status or event_id."
    )
    effect = serializers.ChoiceField(
        choices=[choice for choice in PostbackEvent.Effect.choices if choice[0] != PostbackEvent.Effect.UNMATCHED],
        help_text="applied: moved the application; no_change: it was already there or past it; "
        "contradicts: kept and flagged for review.",
    )


class PostbackErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A stable code to branch on.")
    message = serializers.CharField(help_text="A sentence for the person reading your logs.")


class PostbackValidationErrorSerializer(PostbackErrorSerializer):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each bad field with its problems; non_field_errors for the body as a whole.",
    )


class PostbackUnmatchedSerializer(PostbackErrorSerializer):
    event = serializers.IntegerField(help_text="The id of the recorded (unmatched) event.")
    looks_like = serializers.ListField(
        child=serializers.ChoiceField(choices=list(MANGLINGS)), required=False,
        help_text="Present when one of your applications would have matched had the click_id not been changed "
        "this way (it still does not match): " + "; ".join(f"{name}: {text}" for name, text in MANGLINGS.items())
        + ".",
    )


class PostbackTestAcceptedSerializer(PostbackAcceptedSerializer):
    test = serializers.BooleanField(help_text="Always true: the tester recorded nothing.")
    event = serializers.IntegerField(allow_null=True, help_text="Always null: no event was recorded.")
    message = serializers.CharField(help_text="What the endpoint would have done, in a sentence.")


class PostbackTestUnmatchedSerializer(PostbackUnmatchedSerializer):
    test = serializers.BooleanField(help_text="Always true: the tester recorded nothing.")
    event = serializers.IntegerField(allow_null=True, help_text="Always null: no event was recorded.")


class PostbackTestErrorSerializer(PostbackErrorSerializer):
    test = serializers.BooleanField(help_text="Always true.")


class PostbackTestValidationErrorSerializer(PostbackValidationErrorSerializer):
    test = serializers.BooleanField(help_text="Always true.")
