"""The origins' server-to-server API: who may call it (an OAuth2 client per origin and
environment) and the leads it brought (an origin's partnerLeadId, once per origin and environment).

The OAuth2 application itself (client_id, hashed secret) is django-oauth-toolkit's; an
OriginApiClient says which origin and environment it speaks for, and until when.
"""

import uuid

from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings


class Environment(models.TextChoices):
    """Staging clients reach staging lenders only (the sandbox lenders), production clients
    production lenders only (lenders.Lender.environment)."""

    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class OriginApiClient(models.Model):
    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="api_clients")
    environment = models.CharField(max_length=12, choices=Environment.choices)
    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="origin_client"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retires_at = models.DateTimeField(
        null=True, blank=True,
        help_text="From this moment the client gets no token and its tokens are refused. Empty: active. "
        "A new client for the same origin and environment sets it on the older ones (the overlap).",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["origin", "environment"])]

    def __str__(self) -> str:
        return f"{self.origin.code} {self.environment} client {self.application.client_id[:8]}…"

    def is_active(self, now=None) -> bool:
        return self.retires_at is None or self.retires_at > (now or timezone.now())


class LoanPurpose(models.TextChoices):
    DEBT_CONSOLIDATION = "debt_consolidation", "Debt consolidation"
    HOME_IMPROVEMENT = "home_improvement", "Home improvement"
    MAJOR_PURCHASE = "major_purchase", "Major purchase"
    VEHICLE = "vehicle", "Vehicle"
    EDUCATION = "education", "Education"
    MEDICAL = "medical", "Medical expenses"
    BUSINESS = "business", "Business"
    EMERGENCY = "emergency", "Emergency"
    OTHER = "other", "Other"


class OriginLead(models.Model):
    """A lead an origin submitted through the API: the journey it runs as (a compare-mode Lead),
    the origin's own id for it and a keyed digest of the body, so that the same request again
    finds this lead and a different body under the same id is refused (409)."""

    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="origin_api_lead")
    origin = models.ForeignKey("origins.Origin", on_delete=models.PROTECT, related_name="api_leads")
    environment = models.CharField(max_length=12, choices=Environment.choices)
    client = models.ForeignKey(OriginApiClient, on_delete=models.SET_NULL, null=True, related_name="leads")
    partner_lead_id = models.CharField(max_length=128)
    body_digest = models.CharField(max_length=64, help_text="HMAC-SHA256 of the request body, canonical JSON.")
    loan_purpose = models.CharField(max_length=24, choices=LoanPurpose.choices)
    search_deadline = models.DateTimeField(help_text="After this moment a search with no offers ends timed_out.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["origin", "environment", "partner_lead_id"],
                                    name="origin_lead_once_per_partner_lead_id"),
        ]

    def __str__(self) -> str:
        return f"{self.origin.code} {self.environment} {self.partner_lead_id}"
