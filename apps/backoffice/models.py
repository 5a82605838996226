"""The back office's own records: bulk retries staff asked for, and the marketplace's alerts.

Neither holds personal data: a bulk retry names a lender, a stage and a period; an alert names a
lender or a campaign and a count.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class BulkRetry(models.Model):
    """"Retry every lead lender X failed technically between T1 and T2": made by its preview,
    claimed once by its confirmation, then worked through in batches by a task."""

    class Stage(models.TextChoices):
        DECISION = "decision", "Decision (capability 1)"
        SUBMISSION = "submission", "Submission (capability 2)"

    class State(models.TextChoices):
        PREVIEWED = "previewed", "Previewed, not confirmed"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped (permission withdrawn)"

    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=10, choices=Stage.choices)
    failed_from = models.DateTimeField()
    failed_to = models.DateTimeField()
    reason = models.CharField(max_length=400)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PREVIEWED)
    previewed_count = models.PositiveIntegerField(default=0, help_text="Leads that matched at the preview.")
    # Only leads that existed at the confirmation are retried: the run never chases new failures.
    max_lead_id = models.BigIntegerField(null=True, blank=True, editable=False)
    last_lead_id = models.BigIntegerField(default=0, editable=False, help_text="Progress: leads up to here were seen.")
    retried = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="No longer failed when their turn came.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "bulk retry"
        verbose_name_plural = "bulk retries"
        constraints = [
            # One running bulk retry per lender and stage: a second confirmation waits for it.
            models.UniqueConstraint(fields=["lender", "stage"], condition=models.Q(state="running"),
                                    name="one_running_bulk_retry_per_lender_and_stage"),
            models.CheckConstraint(condition=models.Q(failed_from__lt=models.F("failed_to")),
                                   name="bulk_retry_period_forwards"),
        ]

    def __str__(self) -> str:
        return f"bulk retry {self.pk}: {self.stage} of {self.lender_id}"


class Alert(models.Model):
    """A condition of the marketplace staff must look at (apps/backoffice/alerts.py): opened by the
    periodic evaluation, owned by a role's group, acknowledged and resolved by staff, or resolved
    by the evaluation when the condition clears. One open alert per rule and subject."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    rule = models.CharField(max_length=40)
    subject = models.CharField(max_length=60, help_text="What the alert is about, e.g. lender:4 or campaign:9.")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="+")
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+", help_text="The role that owns it.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", help_text="Who is looking after it.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    message = models.CharField(max_length=400)
    count = models.PositiveIntegerField(default=0, help_text="Leads, calls or share behind it, at the last look.")
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", help_text="Empty when the condition cleared by itself.")
    resolution = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], condition=~models.Q(state="resolved"),
                                    name="one_unresolved_alert_per_rule_and_subject"),
        ]
        indexes = [models.Index(fields=["state", "rule"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject}"
