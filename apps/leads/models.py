"""The journey (lead) and everything that happens to it.

One Lead per consumer journey, keyed by its tracking ID. The identifying consumer fields and the
monthly income are encrypted at rest; what a query needs of the income is its coarse band
(IncomeBand), kept beside it in clear. Document type and amounts are not personal on their own.
"""

from django.conf import settings
from django.db import models

from prosperas.crypto import EncryptedIntegerField, EncryptedJSONField, EncryptedTextField


class LeadStatus(models.TextChoices):
    # The hosted flow.
    NEW = "new", "Started"
    AWAITING_DECISION = "awaiting_decision", "Waiting for the lender's decision"
    DECISION_PENDING = "decision_pending", "Decision pending at the lender"
    OFFERED = "offered", "Offers shown"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"
    DECISION_FAILED = "decision_failed", "Decision failed (technical)"
    SUBMITTING = "submitting", "Submitting the application"
    SUBMISSION_FAILED = "submission_failed", "Submission failed (technical)"
    SUBMITTED = "submitted", "Submitted, ready for hand-off"
    HANDED_OFF = "handed_off", "Handed off to the lender"
    # Reported by the lender's postbacks.
    PRE_APPROVED = "pre_approved", "Pre-approved"
    APPROVED = "approved", "Approved"
    DISBURSED = "disbursed", "Disbursed"
    REJECTED = "rejected", "Rejected by the lender"
    CANCELLED = "cancelled", "Cancelled"


class IncomeBand(models.IntegerChoices):
    """A monthly income's coarse band, named by its lower bound (in the lead's currency): what
    reports, filters and queries may read of an income, which is otherwise kept encrypted.
    Delivery conditions compare the exact income, decrypted, in Python."""

    UNDER_1M = 0, "under 1,000,000"
    FROM_1M = 1_000_000, "1,000,000 to 1,999,999"
    FROM_2M = 2_000_000, "2,000,000 to 3,999,999"
    FROM_4M = 4_000_000, "4,000,000 to 7,999,999"
    FROM_8M = 8_000_000, "8,000,000 to 15,999,999"
    FROM_16M = 16_000_000, "16,000,000 or more"

    @classmethod
    def of(cls, income: int | None) -> int | None:
        if income is None:
            return None
        return max(band for band in cls.values if band <= income) if income >= 0 else cls.UNDER_1M


class Lead(models.Model):
    # Unique by Meta.constraints rather than unique=True, which on PostgreSQL also builds a
    # LIKE-pattern index nothing here uses: every index is rewritten when a lead changes status.
    tracking_id = models.CharField(max_length=255, editable=False)
    # The private key of the journey's pages and status link: unguessable, unrelated to the
    # tracking ID (which lenders see), and carries no personal data.
    public_token = models.CharField(max_length=64, editable=False)
    # Indexed with created_at (Meta.indexes), which serves the lookups by origin alone too.
    origin = models.ForeignKey("origins.Origin", on_delete=models.PROTECT, related_name="leads", db_index=False)
    # Indexed with updated_at (Meta.indexes), which serves the lookups by status alone too.
    status = models.CharField(max_length=24, choices=LeadStatus.choices, default=LeadStatus.NEW)
    # Submitted by an origin through its API: its changes are announced (apps.leads.signals) so the
    # origin's callbacks follow them; hosted-flow journeys announce nothing.
    announces_changes = models.BooleanField(default=False, editable=False)

    listing = models.ForeignKey("listings.Listing", on_delete=models.PROTECT, null=True, related_name="leads")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, null=True, related_name="leads")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, null=True, related_name="leads")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, null=True, related_name="leads")

    document_type = models.CharField(max_length=4, blank=True)
    document_number = EncryptedTextField(blank=True)
    full_name = EncryptedTextField(blank=True)
    email = EncryptedTextField(blank=True)
    phone = EncryptedTextField(blank=True)
    birth_date = EncryptedTextField(blank=True, help_text="ISO date (YYYY-MM-DD), encrypted.")
    region = models.CharField(max_length=8, blank=True, help_text="ISO 3166-2:CO department code, e.g. CO-DC.")
    # Personal data: encrypted. Set it with monthly_income_band (IncomeBand.of), which queries read.
    monthly_income = EncryptedIntegerField(null=True, blank=True, help_text="Encrypted.")
    monthly_income_band = models.PositiveIntegerField(
        null=True, blank=True, choices=IncomeBand.choices, help_text="The income's coarse band, for queries.",
    )
    currency = models.CharField(max_length=3, default="COP")
    requested_amount = models.PositiveBigIntegerField(null=True, blank=True)
    requested_term_months = models.PositiveSmallIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, default="es", help_text="The consumer's language for pages and emails.")
    compare_mode = models.BooleanField(default=False, help_text="Decisions asked of every eligible lender at once.")
    origin_reference = models.CharField(max_length=128, blank=True, help_text="The origin's own reference (deep link).")

    chosen_offer = models.ForeignKey("leads.Offer", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lender_reference = models.CharField(max_length=128, blank=True)
    redirect_url = models.URLField(max_length=2000, blank=True, help_text="As the lender gave it.")
    handoff_url = models.URLField(max_length=2500, blank=True, help_text="Where the consumer was sent.")
    needs_review = models.BooleanField(default=False, help_text="A postback contradicted this lead's state.")
    # Set once, when the consumer revokes their consent (apps/leads/revocation.py): the engine
    # makes no lender call for the journey from then on.
    consent_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    result_email_requested_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the consumer chose to leave the waiting page and be emailed the lender's decision.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    identity_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    lender_status_at = models.DateTimeField(
        null=True, blank=True, help_text="occurred_at of the postback that last moved the lead."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "updated_at"]), models.Index(fields=["origin", "-created_at"]),
            # Admin at size: the leads list filtered by lender and status, newest first.
            models.Index(fields=["lender", "status", "-created_at"], name="lead_lender_status_created"),
            # The dashboards' rollups find the leads changed since their last run, then rebuild the
            # days those leads started (apps/reports); the admin's date hierarchy reads its bounds.
            models.Index(fields=["updated_at"], name="lead_updated_at"),
            models.Index(fields=["created_at"], name="lead_created_at"),
            # Admin search by the lender's reference, exact; only leads that have one.
            models.Index(fields=["lender_reference"], name="lead_lender_reference",
                         condition=~models.Q(lender_reference="")),
            # The funnel report counts a period's submissions and hand-offs of campaign leads
            # (apps/leads/reports.py): a month of them, not a read of every lead ever started.
            models.Index(fields=["submitted_at"], name="lead_campaign_submitted_at",
                         condition=models.Q(campaign__isnull=False, submitted_at__isnull=False)),
            models.Index(fields=["handed_off_at"], name="lead_campaign_handed_off_at",
                         condition=models.Q(campaign__isnull=False, handed_off_at__isnull=False)),
        ]
        # Staff actions on a journey (apps/leads/staff_actions.py), each its own permission.
        permissions = [
            ("retry_lead", "Can retry a lead's failed lender call"),
            ("poll_lead", "Can ask a lender about a lead's pending decision"),
            ("cancel_lead", "Can cancel a lead"),
            ("notify_lead", "Can resend a lead's consumer email"),
            ("review_lead", "Can review leads and add notes"),
            # Seeing the consumer's personal data unmasked: asked with a reason, for a while
            # (PersonalDataReveal), every time logged.
            ("reveal_personal_data", "Can see a lead's personal data unmasked, with a reason"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tracking_id"], name="lead_tracking_id_unique"),
            models.UniqueConstraint(fields=["public_token"], name="lead_public_token_unique"),
        ]

    def __str__(self) -> str:
        return self.tracking_id


class Decision(models.Model):
    """A lender's answer to capability 1. One per lead and lender: the first stored wins."""

    class Outcome(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PENDING = "pending", "Pending"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="decisions")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=512, blank=True)
    lender_reference = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "lender"], name="one_decision_per_lead_and_lender")]
        indexes = [
            # The funnel report reads a period's decisions (apps/leads/reports.py).
            models.Index(fields=["created_at"], name="decision_created_at"),
            # The sweep's pending decisions nobody asked about (apps/leads/selectors.py): a handful
            # among millions, found without reading every decision each minute.
            models.Index(fields=["updated_at"], name="decision_pending_updated_at",
                         condition=models.Q(outcome="pending")),
            # The funnel report's rollup recounts the leads of decisions stored or answered since its
            # last run (apps/leads/funnel_rollup.py).
            models.Index(fields=["updated_at"], name="decision_updated_at"),
        ]

    def __str__(self) -> str:
        return f"{self.lender.code}: {self.outcome}"


class Offer(models.Model):
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="offers")
    lender_offer_id = models.CharField(max_length=128)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    term_months = models.PositiveSmallIntegerField()
    monthly_payment = models.DecimalField(max_digits=14, decimal_places=2)
    annual_rate = models.DecimalField(max_digits=7, decimal_places=4)
    currency = models.CharField(max_length=3, default="COP")
    url = models.URLField(max_length=2000, blank=True)

    class Meta:
        ordering = ["amount", "term_months"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "lender_offer_id"], name="offer_unique_per_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.lender_offer_id}: {self.amount} {self.currency} / {self.term_months} months"


class DecisionRequest(models.Model):
    """Compare mode: one lender asked for a decision on a journey, with the catalog entry
    (listing, product, campaign) it was asked for. The lender's answer is its Decision; `failed`
    says the ask ended without one (technical or permanent failure, or no answer in time)."""

    class State(models.TextChoices):
        ASKED = "asked", "Asked"
        FAILED = "failed", "Failed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="decision_requests")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="decision_requests")
    listing = models.ForeignKey("listings.Listing", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ASKED)
    failure = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "lender"], name="one_decision_request_per_lead_and_lender")]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.lender.code}: {self.state}"


class DecisionReason(models.Model):
    """A rejection's reason, normalized (RejectionCategory) with the lender's own code and text
    kept, and an adverse action notice (sanitized HTML) when the lender sent one."""

    class Category(models.TextChoices):
        INCOME = "income", "Income"
        AGE = "age", "Age"
        REGION = "region", "Region"
        EXISTING_CUSTOMER = "existing_customer", "Existing customer"
        CREDIT_POLICY = "credit_policy", "Credit policy"
        INCOMPLETE_DATA = "incomplete_data", "Incomplete data"
        OTHER = "other", "Other"

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="reason_detail")
    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    lender_code = models.CharField(max_length=128, blank=True)
    lender_text = models.CharField(max_length=512, blank=True)
    notice_html = models.TextField(blank=True, help_text="Adverse action notice, sanitized with nh3.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.category}: {self.lender_code or self.lender_text}"


class OfferTerms(models.Model):
    """What some lenders say about an offer beyond the Offer's columns (seed 003: APR and
    origination fee; seed 002: the amount range the offer falls in)."""

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="terms")
    apr = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    origination_fee = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    amount_group = models.CharField(max_length=10, blank=True, help_text="requested / higher / lower")

    def __str__(self) -> str:
        return f"terms of offer {self.offer_id}"


class LeadExtraData(models.Model):
    """Journey data an adapter declared (JOURNEY_FIELDS) that Lead has no column for, such as an
    address or an employment status. Encrypted: it may identify the person."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="extra_data")
    values = EncryptedJSONField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"extra data of lead {self.lead_id}"


class Submission(models.Model):
    """The lender's answer to capability 2. One per lead: the first stored wins."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="submission")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="submissions")
    status = models.CharField(max_length=40)
    redirect_url = models.URLField(max_length=2000)
    lender_reference = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.status}"


class LeadEvent(models.Model):
    """The lead's timeline: journey steps, decisions, submissions, postbacks. No personal data."""

    class Kind(models.TextChoices):
        STARTED = "started", "Journey started"
        IDENTITY = "identity", "Identity and income given"
        DECISION = "decision", "Decision received"
        DECISION_FAILED = "decision_failed", "Decision failed"
        OFFER_CHOSEN = "offer_chosen", "Offer chosen"
        SUBMITTED = "submitted", "Application submitted"
        SUBMISSION_FAILED = "submission_failed", "Submission failed"
        HANDED_OFF = "handed_off", "Handed off"
        POSTBACK = "postback", "Postback"
        RETRY = "retry", "Consumer retried"
        STAFF = "staff", "Staff action"
        CONSENT_REVOKED = "consent_revoked", "Consumer revoked consent"
        RESULT_EMAIL = "result_email", "Consumer asked for the decision by email"
        RESUMED = "resumed", "Consumer reopened the journey from the emailed link"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=24, choices=LeadStatus.choices, help_text="The lead's status after it.")
    message = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.status}"


class ResumeLink(models.Model):
    """A one-time, expiring link in a result email that reopens the journey in the browser it is
    opened in (apps/leads/resume_links.py). Only the token's digest is stored; the URL carries
    the token alone, which names neither the lead nor the consumer."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="resume_links")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"resume link of lead {self.lead_id}"


class Consent(models.Model):
    """A consent the consumer accepted, with the version of the text they saw (habeas data)."""

    class Kind(models.TextChoices):
        TERMS = "terms", "Terms and conditions"
        PRIVACY = "privacy", "Privacy policy"
        DATA_PROCESSING = "data_processing", "Personal data processing authorization"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text_version = models.CharField(max_length=40)
    # The exact text shown, in the language it was shown in (a published legal.ConsentText never
    # changes). Empty only for an origin's attestation of a version with no row in that language.
    text = models.ForeignKey("legal.ConsentText", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    language = models.CharField(max_length=8, blank=True)
    accepted_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "kind", "text_version"], name="consent_once_per_version")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.text_version}"


# What a consumer is emailed about beyond their lead's statuses.
CONSENT_RECEIPT = "consent_receipt"
CONSENT_REVOKED = "consent_revoked"
NOTIFICATION_TOPICS = [(CONSENT_RECEIPT, "Consent receipt"), (CONSENT_REVOKED, "Consent revoked")]


class RevocationNotice(models.Model):
    """Telling one lender that received a consumer's data that the consumer revoked their consent:
    through its API where the lender's adapter can (`supports_revocation`), otherwise a task for
    staff, who write to the lender's privacy contact and mark it done."""

    class Channel(models.TextChoices):
        API = "api", "Through the lender's API"
        STAFF = "staff", "By staff, to the lender's contact"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (API): staff to follow up"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="revocation_notices")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="revocation_notices")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "lender"], name="revocation_notice_once_per_lender")]
        indexes = [models.Index(fields=["state", "channel"])]

    def __str__(self) -> str:
        return f"revocation to {self.lender_id} ({self.channel}, {self.state})"


class LeadNotification(models.Model):
    """A message sent to the consumer about their lead; one per status, so repeats send nothing."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    # A status the lead reached, or one of NOTIFICATION_TOPICS (the consent receipt, the revocation).
    lead_status = models.CharField(max_length=24, choices=LeadStatus.choices + NOTIFICATION_TOPICS)
    language = models.CharField(max_length=8)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead", "channel", "lead_status"], name="notification_once_per_status"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.lead_status} {self.state}"


class OutboxMessage(models.Model):
    """An email the demo did not send (the outbox email backend, apps/leads/outbox.py): kept for
    staff to read in admin instead of printed into a log. Encrypted: it holds the consumer's
    address and words about their application."""

    sender = models.CharField(max_length=254)
    recipients = EncryptedTextField(help_text="Comma-separated, encrypted.")
    subject = EncryptedTextField()
    text_body = EncryptedTextField(blank=True)
    html_body = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outbox message"
        verbose_name_plural = "outbox"

    def __str__(self) -> str:
        return f"message {self.pk} of {self.created_at:%Y-%m-%d %H:%M}"


class PersonalDataReveal(models.Model):
    """A staff user's leave to see one lead's personal data unmasked until `expires_at`, given
    for a reason (apps/leads/reveals.py). Each is also an entry in the audit log."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="reveals")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=400)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lead", "staff", "-expires_at"])]

    def __str__(self) -> str:
        return f"reveal of lead {self.lead_id} to {self.staff_id}"


# The funnel report's rollup: its own module, for size.
from apps.leads.funnel_models import FunnelStageDay, FunnelStageLead, FunnelStageMark  # noqa: E402, F401
