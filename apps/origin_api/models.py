"""The origins' server-to-server API: who may call it (an OAuth2 client per origin and
environment) and the leads it brought (an origin's partnerLeadId, once per origin and environment).

The OAuth2 application itself (client_id, hashed secret) is django-oauth-toolkit's; an
OriginApiClient says which origin and environment it speaks for, and until when.
"""

import uuid

from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from prosperas.crypto import EncryptedTextField


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


# --- Callbacks to origins and the event feed ------------------------------------------------------


class OriginWebhook(models.Model):
    """Where an origin hears of its leads in one environment: a URL that holds an unguessable
    part (HTTPS in production, apps.origin_api.webhooks.callback_url_problems), signed by the
    Standard Webhooks specification with its secrets (WebhookSecret)."""

    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="webhooks")
    environment = models.CharField(max_length=12, choices=Environment.choices)
    url = models.URLField(max_length=500, help_text="The origin's callback URL, with its unguessable part.")
    is_active = models.BooleanField(default=True, help_text="Off: no new deliveries are made.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin", "environment"], name="one_webhook_per_origin_env")]

    def __str__(self) -> str:
        return f"{self.origin.code} {self.environment} callbacks"


class WebhookSecret(models.Model):
    """A `whsec_…` secret of a webhook, encrypted at rest. Every secret not yet retired signs each
    callback (one `v1,…` signature each), so during a rotation's overlap the origin may verify with
    either."""

    webhook = models.ForeignKey(OriginWebhook, on_delete=models.CASCADE, related_name="secrets")
    secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    retires_at = models.DateTimeField(null=True, blank=True, help_text="From this moment it no longer signs.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"secret of {self.webhook} from {self.created_at:%Y-%m-%d %H:%M}"


class OriginEvent(models.Model):
    """Something an origin is told about one of its leads: a status change (`lead.status_changed`)
    or a lender's outcome (`lead.lender_outcome`), once each (unique by lead, type and key), with
    the body sent in its callback and served by the feed, frozen when it happened.

    `sequence` is given after commit, in commit order (apps.origin_api.rows.events_sequence): the
    feed pages by it, so a row committed late never lands behind a page already served."""

    class Type(models.TextChoices):
        STATUS_CHANGED = "lead.status_changed", "Status changed"
        LENDER_OUTCOME = "lead.lender_outcome", "Lender outcome"

    public_id = models.CharField(max_length=40, unique=True, editable=False,
                                 help_text="The event's id: webhook-id of its callbacks, id in the feed.")
    origin_lead = models.ForeignKey(OriginLead, on_delete=models.CASCADE, related_name="events")
    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="api_events")
    environment = models.CharField(max_length=12, choices=Environment.choices)
    type = models.CharField(max_length=24, choices=Type.choices)
    key = models.CharField(max_length=64, help_text="The status, or the lender's code.")
    payload = models.JSONField(help_text="The body of its callbacks (no personal data).")
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["origin_lead", "type", "key"], name="origin_event_once")]
        indexes = [
            models.Index(fields=["origin", "environment", "sequence"]),
            models.Index(fields=["id"], condition=models.Q(sequence__isnull=True), name="origin_event_unsequenced"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} {self.key}"


class CallbackDelivery(models.Model):
    """One event to one webhook, tried until a 2xx or until the retry window ends."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Given up"

    event = models.ForeignKey(OriginEvent, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(OriginWebhook, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now,
                                           help_text="When it is due (a claimed one: when its claim lapses).")
    retry_until = models.DateTimeField(help_text="No attempt is made after this (24 h from the first).")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "callback deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "webhook"], name="one_delivery_per_event_webhook")]
        indexes = [models.Index(fields=["next_attempt_at"], condition=models.Q(state="pending"),
                                name="callback_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event.public_id} → {self.webhook}"


class CallbackAttempt(models.Model):
    """Every try of a delivery: created before the request, completed after it."""

    delivery = models.ForeignKey(CallbackDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    by_staff = models.BooleanField(default=False, help_text="A redelivery asked for in admin.")

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery}"
