"""State of the sandbox lenders: their knobs, and the answers they gave (idempotency by trackingId).

The sandbox plays a lender, but it keeps no personal data: it decides from the request, then
stores only its own answers (decisions, offers, redirect URLs), which are what its idempotency
needs.
"""

from django.core.exceptions import ValidationError
from django.db import models

from apps.lenders.models import Lender

# Steps of a failure script, one consumed per API call (see SandboxLenderSettings.failure_script).
NAMED_STEPS = {"ok", "stall", "reset", "malformed"}


def parse_failure_script(script: str) -> list[str]:
    return [step.strip().lower() for step in script.split(",") if step.strip()]


def is_known_step(step: str) -> bool:
    return step in NAMED_STEPS or (step.isdigit() and len(step) == 3 and 200 <= int(step) <= 599)


def validate_failure_script(script: str) -> None:
    unknown = [step for step in parse_failure_script(script) if not is_known_step(step)]
    if unknown:
        raise ValidationError(
            f"Unknown steps: {', '.join(unknown)}. Use ok, stall, reset, malformed or an HTTP status (500, 429...)."
        )


class SandboxLenderSettings(models.Model):
    """Per-lender knobs of the sandbox; created on demand the first time a lender is called."""

    lender = models.OneToOneField(Lender, on_delete=models.CASCADE, related_name="sandbox_settings")
    latency_ms = models.PositiveIntegerField(default=0, help_text="Added before every API answer.")
    failure_script = models.CharField(
        max_length=1000, blank=True, validators=[validate_failure_script],
        help_text=(
            "Comma-separated steps, one consumed per API call, then normal answers: "
            "an HTTP status (500, 503, 429 with Retry-After: 1, 401, 422...), "
            "stall (wait stall_seconds, then answer), reset (drop the connection without an answer), "
            "malformed (HTTP 200 with a body that is not JSON), ok / 200 (answer normally). "
            'Example: "500, 500, ok".'
        ),
    )
    stall_seconds = models.FloatField(
        default=5.0, help_text="How long a stall step waits before answering: longer than the tests' 2 s deadline."
    )
    pending_seconds = models.PositiveIntegerField(
        default=5, help_text="How long a pending decision stays pending before it resolves to an approval."
    )
    calls_received = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sandbox lender settings"
        verbose_name_plural = "sandbox lender settings"

    def __str__(self) -> str:
        return f"Sandbox settings for {self.lender.code}"


class SandboxApplication(models.Model):
    """The sandbox's first answers for one trackingId: returned again on every repeat."""

    lender = models.ForeignKey(Lender, on_delete=models.CASCADE, related_name="sandbox_applications")
    tracking_id = models.CharField(max_length=255)
    application_ref = models.CharField(max_length=32, unique=True)
    product_id = models.CharField(max_length=40)
    decision = models.CharField(max_length=10)
    decision_body = models.JSONField(help_text="The answer to POST /decisions, as sent.")
    resolves_at = models.DateTimeField(null=True, blank=True, help_text="When a pending decision resolves.")
    resolution_body = models.JSONField(null=True, blank=True, help_text="What a pending decision resolves to.")
    application_body = models.JSONField(null=True, blank=True, help_text="The answer to POST /applications.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["lender", "tracking_id"], name="sandbox_application_once_per_tracking_id")
        ]

    def __str__(self) -> str:
        return f"{self.lender.code} {self.application_ref} {self.decision}"
