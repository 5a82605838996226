from django.db import models


class PostbackEvent(models.Model):
    """Every postback that passed authentication, matched to a lead or not. Append-only."""

    class Status(models.TextChoices):
        PRE_APPROVED = "pre_approved", "Pre-approved"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        DISBURSED = "disbursed", "Disbursed"
        CANCELLED = "cancelled", "Cancelled"

    class Effect(models.TextChoices):
        APPLIED = "applied", "Moved the lead"
        NO_CHANGE = "no_change", "Lead already there or past it"
        CONTRADICTS = "contradicts", "Contradicts the lead's state (flagged)"
        UNMATCHED = "unmatched", "No journey of this lender has this click_id"

    # No index of their own: (lender, -received_at) and (lead, status) below lead with them.
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="postback_events",
                               db_index=False)
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, null=True, blank=True, related_name="postbacks",
                             db_index=False)
    click_id = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices)
    event_id = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    product_id = models.CharField(max_length=40, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    reason = models.CharField(max_length=512, blank=True)
    lender_reference = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    effect = models.CharField(max_length=12, choices=Effect.choices)
    looks_like = models.CharField(
        max_length=200, blank=True,  # room for every mangling at once (165 characters)
        help_text="Unmatched only: the manglings (comma-separated) after which one of the lender's click_ids "
        "would have matched, e.g. letter_case. Never used to match.",
    )
    is_repeat = models.BooleanField(default=False, help_text="Same status (or event_id) already recorded for this lead.")
    raw_body = models.BinaryField()
    headers = models.JSONField(default=dict, help_text="Request headers, without signatures or keys.")
    source_ip = models.GenericIPAddressField(null=True)
    nonce = models.CharField(
        max_length=128, blank=True,
        help_text="The X-Prosperas-Nonce the request was signed with (hmac lenders). Unique per lender: an event "
        "is recorded with its nonce or not at all, so a replay is refused by the insert itself.",
    )
    followed_up_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When what this event set off (the consumer's email, the campaign's result charge) was done; "
        "empty while it is due. Events that moved nothing are recorded as followed up.",
    )
    # Set only by the follow-up runner: the event's INSERT leaves them to their database defaults
    # (FOLLOW_UP_STATE_FIELDS).
    follow_up_attempts = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="How many times following this event up has failed so far.",
    )
    follow_up_error = models.TextField(
        blank=True, default="", db_default="", help_text="The last failure of its follow-up (the error's type and "
        "message); the full traceback is in the worker's log.",
    )
    follow_up_next_at = models.DateTimeField(
        null=True, blank=True, help_text="After a failure: not tried again before this time (the delay doubles).",
    )
    follow_up_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its follow-up was given up, after POSTBACK_FOLLOW_UP_MAX_ATTEMPTS "
        "failures: the consumer's email and the campaign's charge are not done until staff retry it.",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        # Every index is written by every postback: only those a query uses. click_id's is a plain
        # one (exact lookups: the unmatched repeat check), without the LIKE twin db_index would add
        # on PostgreSQL.
        indexes = [
            models.Index(fields=["click_id"], name="postback_event_click_id"),
            models.Index(fields=["lead", "status"]),
            models.Index(fields=["lender", "-received_at"]),
            # Admin search by the lender's event_id, exact; only events that carry one.
            models.Index(fields=["event_id"], condition=~models.Q(event_id=""), name="postback_event_event_id"),
            # Only the events still to follow up: what postback_follow_ups_run scans, kept tiny.
            models.Index(fields=["id"],
                         condition=models.Q(followed_up_at__isnull=True, follow_up_failed_at__isnull=True),
                         name="postback_follow_up_due"),
            # The events whose follow-up was given up, for staff (few: each one is a fault to fix).
            models.Index(fields=["-follow_up_failed_at"], condition=models.Q(follow_up_failed_at__isnull=False),
                         name="postback_follow_up_failed"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lender", "nonce"], condition=~models.Q(nonce=""),
                                    name="postback_event_nonce_once_per_lender"),
        ]

    # The follow-up runner's own columns: the event's INSERT (apps.postbacks.rows) leaves them out.
    FOLLOW_UP_STATE_FIELDS = ("follow_up_attempts", "follow_up_error", "follow_up_next_at", "follow_up_failed_at")

    def __str__(self) -> str:
        return f"{self.lender.code} {self.click_id} {self.status}"
