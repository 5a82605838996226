"""What the origins' guide page shows, read from the code that enforces it: each field's rule
from the serializers, the statuses from apps.origin_api.statuses, the token lifetime and search
deadline from settings."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from rest_framework import serializers

from apps.origin_api.schema import EVENT_EXAMPLE, LEAD_EXAMPLE
from apps.origin_api.serializers import LeadInputSerializer
from apps.origin_api.statuses import STATUS_MEANINGS
from apps.origin_api.webhooks import UNGUESSABLE_MIN_CHARS

# A callback's body: an event of the feed without its id (the id is the webhook-id header).
CALLBACK_EXAMPLE = {key: value for key, value in EVENT_EXAMPLE.items() if key != "id"}


def field_rules(serializer: serializers.Serializer, prefix: str = "") -> list[tuple[str, str]]:
    """(path, rule) of every field, nested ones by their path (borrower.documentNumber)."""
    rules = []
    for name, field in serializer.fields.items():
        path = f"{prefix}{name}"
        if isinstance(field, serializers.Serializer):
            if field.help_text:
                rules.append((path, str(field.help_text)))
            rules += field_rules(field, prefix=f"{path}.")
        else:
            rules.append((path, str(field.help_text or "")))
    return rules


def docs_context(request: HttpRequest) -> dict:
    return {
        "token_url": request.build_absolute_uri(reverse("origin_api:token")),
        "leads_url": request.build_absolute_uri(reverse("origin_api:leads")),
        "fields": field_rules(LeadInputSerializer()),
        "statuses": [(status.value, meaning) for status, meaning in STATUS_MEANINGS.items()],
        "lead_example": json.dumps(LEAD_EXAMPLE, indent=2, ensure_ascii=False),
        "token_seconds": settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"],
        "token_minutes": settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"] // 60,
        "search_seconds": settings.ORIGIN_API_SEARCH_TIMEOUT_SECONDS,
        "overlap_hours": settings.ORIGIN_API_ROTATION_OVERLAP_HOURS,
        "events_url": request.build_absolute_uri(reverse("origin_api:events")),
        "unguessable_chars": UNGUESSABLE_MIN_CHARS,
        "callback_example": json.dumps(CALLBACK_EXAMPLE, indent=2, ensure_ascii=False),
        "callback_timeout": f"{settings.ORIGIN_CALLBACK_TIMEOUT_SECONDS:g}",
        "first_retry": f"{settings.ORIGIN_CALLBACK_FIRST_RETRY_SECONDS:g}",
        "retry_hours": f"{settings.ORIGIN_CALLBACK_RETRY_HOURS:g}",
    }
