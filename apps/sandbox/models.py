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
    pending_seconds = models.FloatField(
        default=5, help_text="How long a pending decision stays pending before it resolves (for the async style: "
                             "how long the lead takes to reach its final status)."
    )
    pending_then_resolve = models.BooleanField(
        default=False, help_text="Every decision answers pending first and resolves by the rules after pending_seconds "
                                 "(embedded and mapped styles; the async style is always pending first).",
    )
    callback_delay_seconds = models.FloatField(
        null=True, blank=True, help_text="Seconds after a pending decision resolves before the sandbox calls the "
                                         "platform back with it; empty: no callback (the platform must poll).",
    )
    callback_url = models.URLField(
        max_length=500, blank=True, help_text="Where callbacks go; empty: the platform's callback URL for this "
                                              "lender (SITE_URL). Non-2xx answers are retried a few times.",
    )
    token_ttl_seconds = models.PositiveIntegerField(
        default=3600, help_text="Lifetime of the OAuth2 tokens the sandbox issues (async and offers styles)."
    )
    # Knobs that break one conformance check each (apps/conformance): a lender that gets its
    # integration wrong in that one way, for the kit to catch.
    repeat_answers_differ = models.BooleanField(
        default=False, help_text="Idempotency broken: a repeated trackingId gets a new application reference.")
    rejection_as_error = models.BooleanField(
        default=False, help_text="A rejection is answered as HTTP 500 instead of a business answer.")
    handoff_refused = models.BooleanField(
        default=False, help_text="The portal page answers 400 to a hand-off that carries click_id.")
    postback_click_id_changed = models.BooleanField(
        default=False, help_text="Postbacks sent for the conformance kit carry the click_id upper-cased.")
    postback_bad_signature = models.BooleanField(
        default=False, help_text="Postbacks sent for the conformance kit are signed with a wrong secret.")
    postback_nonce_reused = models.BooleanField(
        default=False, help_text="Postbacks sent for the conformance kit all carry the same nonce.")
    postback_bad_transition = models.BooleanField(
        default=False, help_text="Postbacks sent for the conformance kit report a rejection after the disbursement.")
    tokens_issued = models.PositiveIntegerField(default=0, editable=False)
    callbacks_sent = models.PositiveIntegerField(default=0, editable=False)
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
    application_ref = models.CharField(max_length=64, unique=True)
    product_id = models.CharField(max_length=40)
    decision = models.CharField(max_length=10)
    decision_body = models.JSONField(help_text="The answer to POST /decisions, as sent.")
    resolves_at = models.DateTimeField(null=True, blank=True, help_text="When a pending decision resolves.")
    resolution_body = models.JSONField(null=True, blank=True, help_text="What a pending decision resolves to.")
    application_body = models.JSONField(null=True, blank=True, help_text="The answer to POST /applications.")
    selected_product_id = models.CharField(max_length=64, blank=True, help_text="Async style: the product followed.")
    consent_revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="Async style: when the platform told this lender the borrower revoked consent.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["lender", "tracking_id"], name="sandbox_application_once_per_tracking_id")
        ]

    def __str__(self) -> str:
        return f"{self.lender.code} {self.application_ref} {self.decision}"
