"""Strict fields for bodies from outside (seed 004: "callback DTOs are strict"): each takes only
the JSON type it names, and text is never trimmed (a click_id must come back byte for byte)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")


class StrictCharField(serializers.CharField):
    """A JSON string, kept exactly as sent (DRF's CharField trims and accepts numbers)."""

    default_error_messages = {"not_a_string": "Must be a JSON string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    default_error_messages = {"not_a_string": "Must be a JSON string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class PatternField(StrictCharField):
    """A string matching `pattern` whole; subclasses publish it in the schema."""

    pattern: re.Pattern
    default_error_messages = {"no_match": "Invalid format."}

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if not self.pattern.fullmatch(text):
            self.fail("no_match")
        return text


@extend_schema_field({"type": "string", "pattern": "^[A-Z]{3}$", "example": "COP"})
class CurrencyField(PatternField):
    pattern = CURRENCY_PATTERN
    default_error_messages = {"no_match": "Must be 3 uppercase letters (ISO 4217), e.g. COP."}


class StrictBodySerializer(serializers.Serializer):
    """A body from outside whose unknown top-level fields are errors (the subclass refuses them).
    Its OpenAPI schema says so (`additionalProperties: false`, prosperas.inbound.schema) and adds
    `schema_rules`: JSON Schema keywords for the rules between fields that no single field states."""

    schema_rules: dict[str, Any] = {}


def unknown_fields(data: Any, known: Iterable[str]) -> list[str]:
    """The top-level names of `data` (a JSON object) that are not `known`, sorted: each one is a
    validation error of a strict body."""
    return sorted(set(data) - set(known)) if isinstance(data, dict) else []
