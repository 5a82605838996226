"""The conformance kit's records: per-lender synthetic profiles, runs with their checks, the
certificates passing runs issue, and staff overrides of the activation rule."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class ConformanceProfile(models.Model):
    """How the kit talks to one lender's staging: the synthetic consumers its staging tells apart
    (defaults: the sandbox lenders' conventions, by monthly income), how many calls time the
    latency, and how its postbacks are asked for."""

    lender = models.OneToOneField("lenders.Lender", on_delete=models.CASCADE, related_name="conformance_profile")
    product = models.ForeignKey(
        "products.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The product (with a listing) the test journeys apply for; empty: the lender's first active one.",
    )
    approved_income = models.PositiveBigIntegerField(default=5_000_000, help_text="Monthly income approved with offers.")
    rejected_income = models.PositiveBigIntegerField(default=900_000, help_text="Monthly income rejected.")
    pending_income = models.PositiveBigIntegerField(default=2_500_777, help_text="Monthly income answered pending.")
    document_number = models.CharField(max_length=20, default="1000000001", help_text="The synthetic consumers' CC.")
    latency_calls = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text="Decision calls timed for the p95 (fresh tracking IDs).",
    )
    postback_window_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="How long the lender has to send the test journeys' postbacks.",
    )
    postback_trigger_url = models.URLField(
        max_length=500, blank=True,
        help_text="POSTed {click_ids, postback_url} to ask the lender for its postbacks; empty: the sandbox's for a "
                  "sandbox lender, else none (the report gives the click_ids to send them for within the window).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Conformance profile of {self.lender.code}"


class ConformanceRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error (the run could not finish)"

    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, related_name="conformance_runs")
    environment = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.CharField(max_length=200, blank=True, help_text="What the run is doing now.")
    checks = models.JSONField(default=list, blank=True, help_text="Each check: name, status, summary, evidence.")
    passed = models.PositiveSmallIntegerField(default=0)
    failed = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One unfinished run per lender: a double click starts nothing twice.
            models.UniqueConstraint(fields=["lender"], condition=models.Q(status__in=["queued", "running"]),
                                    name="conformance_one_open_run_per_lender"),
        ]

    def __str__(self) -> str:
        return f"Conformance run {self.pk} of {self.lender.code}: {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.PASSED, self.Status.FAILED, self.Status.ERROR)


class Certificate(models.Model):
    """Issued by a run whose every check passed; valid until `expires_at` unless revoked."""

    run = models.OneToOneField(ConformanceRun, on_delete=models.PROTECT, related_name="certificate")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, related_name="conformance_certificates")
    environment = models.CharField(max_length=20)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Certificate {self.pk} of {self.lender.code} until {self.expires_at:%Y-%m-%d}"

    def is_valid(self, at=None) -> bool:
        return self.revoked_at is None and self.expires_at > (at or timezone.now())


class ActivationOverride(models.Model):
    """Staff turned a production row active without a valid certificate of its staging row."""

    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, related_name="activation_overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    refusal = models.TextField(help_text="What the rule said when it was overridden.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Activation override of {self.lender.code} by {self.user}"
