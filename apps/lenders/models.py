import hashlib
import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.lenders.adapters import adapter_choices
from prosperas.crypto import EncryptedJSONField, EncryptedTextField

# The bounds every lender call lives within (seed 001: 15-30 s timeouts, up to 3 retries).
TIMEOUT_MIN_SECONDS = 15
TIMEOUT_MAX_SECONDS = 30
MAX_RETRIES_LIMIT = 3


def validate_ip_allowlist(value: str) -> None:
    for entry in split_allowlist(value):
        try:
            ipaddress.ip_address(entry)
        except ValueError as exc:
            raise ValidationError(f"{entry!r} is not an IP address (addresses are matched exactly).") from exc


def split_allowlist(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]


class Lender(models.Model):
    class Environment(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"

    class PostbackAuth(models.TextChoices):
        HMAC = "hmac", "HMAC signature (X-Prosperas-* headers)"
        API_KEY = "api_key", "Bearer API key"

    code = models.CharField(
        max_length=40, unique=True, validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]{1,39}$")]
    )
    name = models.CharField(max_length=120)
    adapter = models.CharField(max_length=40, choices=adapter_choices())
    base_url = models.URLField(max_length=500, help_text="The lender API's base URL for this environment.")
    environment = models.CharField(max_length=20, choices=Environment.choices, default=Environment.STAGING)
    is_active = models.BooleanField(default=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(TIMEOUT_MIN_SECONDS), MaxValueValidator(TIMEOUT_MAX_SECONDS)],
        help_text="Hard deadline for one call attempt, 15-30 s.",
    )
    max_retries = models.PositiveSmallIntegerField(
        default=MAX_RETRIES_LIMIT,
        validators=[MaxValueValidator(MAX_RETRIES_LIMIT)],
        help_text="Retries after a technical failure (timeout, reset, 5xx, 429), at most 3.",
    )
    credentials = EncryptedJSONField(blank=True, help_text="Adapter credentials (API keys, client secrets).")

    postback_auth = models.CharField(max_length=10, choices=PostbackAuth.choices, default=PostbackAuth.HMAC)
    postback_key = models.CharField(
        max_length=64, unique=True, help_text="Public key the lender sends in X-Prosperas-Key."
    )
    postback_secret = EncryptedTextField(help_text="HMAC secret, or the bearer API key in api_key mode.")
    postback_secret_previous = EncryptedTextField(
        blank=True, help_text="During a rotation: the old secret, still accepted until cleared."
    )
    postback_api_key_digest = models.CharField(
        max_length=64, blank=True, editable=False, db_index=True,
        help_text="SHA-256 of the bearer API key, to find the lender without decrypting every row.",
    )
    postback_ip_allowlist = models.TextField(
        blank=True, validators=[validate_ip_allowlist], help_text="One address per line; empty allows any."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=TIMEOUT_MIN_SECONDS, timeout_seconds__lte=TIMEOUT_MAX_SECONDS),
                name="lender_timeout_within_bounds",
            ),
            models.CheckConstraint(condition=models.Q(max_retries__lte=MAX_RETRIES_LIMIT), name="lender_max_retries_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}, {self.environment})"

    @property
    def ip_allowlist(self) -> list[str]:
        return split_allowlist(self.postback_ip_allowlist)

    @staticmethod
    def api_key_digest(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()


class LenderCall(models.Model):
    """One attempt at one capability call to a lender: created before the call, completed after."""

    class Capability(models.TextChoices):
        PREQUALIFY = "prequalify", "Prequalify"
        SUBMIT = "submit", "Submit"

    class Outcome(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PENDING = "pending", "Pending"
        SUBMITTED = "submitted", "Submitted"
        TECHNICAL_FAILURE = "technical_failure", "Technical failure"
        PERMANENT_FAILURE = "permanent_failure", "Permanent failure"

    lender = models.ForeignKey(Lender, on_delete=models.PROTECT, related_name="calls")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="lender_calls")
    capability = models.CharField(max_length=20, choices=Capability.choices)
    attempt = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.IN_FLIGHT)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What went wrong, in the lender's words where it gave any.")
    request_method = models.CharField(max_length=10, blank=True)
    request_url = models.URLField(max_length=1000, blank=True)
    request_body = models.TextField(blank=True, help_text="Masked and truncated.")
    response_body = models.TextField(blank=True, help_text="Masked and truncated.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["lead", "capability", "lender"]), models.Index(fields=["lender", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.lender.code} {self.capability} #{self.attempt} {self.outcome}"
