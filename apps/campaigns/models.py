"""Campaigns: which product a lender promotes, to which origins, when, under which delivery
conditions, at what price and within which budget and caps; and the ledger of every charge.

The ledger (LedgerEntry) is append-only and is the record of what a lender owes. Spend and
lead counts are also kept as running totals on Campaign and CampaignOrigin (in all, and for the
marketplace day last counted), written in the same transaction as each ledger row while the
campaign row is locked, so the catalog filters a thousand campaigns on plain columns in one
query; `campaign_ledger_totals` recomputes them from the ledger, and the tests hold the two equal.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.products.models import AGE_LIMITS, eligibility_errors, validate_document_types, validate_regions

MONEY = {"max_digits": 14, "decimal_places": 2}


class CampaignState(models.TextChoices):
    """Derived from the schedule, the switches and the ledger: nobody has to move a campaign."""

    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    EXHAUSTED = "exhausted", "Exhausted"
    ENDED = "ended", "Ended"


class Campaign(models.Model):
    """How and when a lender's product is shown: to which origins, through which listings."""

    name = models.CharField(max_length=120)
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="campaigns")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="campaigns")
    listings = models.ManyToManyField("listings.Listing", related_name="campaigns")
    origins = models.ManyToManyField("origins.Origin", related_name="campaigns", through="CampaignOrigin")

    # --- State switches and schedule (in the marketplace's time zone, settings.TIME_ZONE) ---
    is_draft = models.BooleanField(default=False, help_text="Still being set up: never shown.")
    is_active = models.BooleanField(
        default=True, verbose_name="running", help_text="Unticked: paused (staff's pause / resume actions)."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: runs until stopped.")
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower shows first.")
    weight = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(1)],
        help_text="Among campaigns of the same priority, a higher weight shows first (or more often, in rotation).",
    )

    # --- Money: budget and prices in the campaign's currency ---
    currency = models.CharField(max_length=3, default="COP", validators=[RegexValidator(r"^[A-Z]{3}$")])
    budget = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(0)], help_text="Total budget; empty: no limit."
    )
    price_per_lead = models.DecimalField(**MONEY, default=0, validators=[MinValueValidator(0)],
                                         help_text="Charged when a lead is routed to the lender.")
    price_per_approved = models.DecimalField(**MONEY, default=0, validators=[MinValueValidator(0)],
                                             help_text="Charged once when the lender reports the credit approved.")
    price_per_disbursed = models.DecimalField(**MONEY, default=0, validators=[MinValueValidator(0)],
                                              help_text="Charged once when the lender reports the credit disbursed.")
    budget_alert_percent = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Flag the campaign when this share of the budget is spent.",
    )

    # --- Caps, over all origins (per origin: CampaignOrigin) ---
    daily_lead_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leads per marketplace day; empty: none."
    )
    total_lead_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Leads in all; empty: none.")

    # --- Delivery conditions, checked before a lead is routed (with the product's eligibility) ---
    min_monthly_income = models.PositiveBigIntegerField(null=True, blank=True)
    min_requested_amount = models.DecimalField(**MONEY, null=True, blank=True)
    max_requested_amount = models.DecimalField(**MONEY, null=True, blank=True)
    document_types = models.JSONField(default=list, blank=True, validators=[validate_document_types],
                                      help_text='e.g. ["CC"]; empty: any.')
    min_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(AGE_LIMITS[0]), MaxValueValidator(AGE_LIMITS[1])]
    )
    max_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(AGE_LIMITS[0]), MaxValueValidator(AGE_LIMITS[1])]
    )
    regions = models.JSONField(default=list, blank=True, validators=[validate_regions],
                               help_text='ISO 3166-2:CO codes, e.g. ["CO-DC", "CO-ANT"]; empty: all.')

    # --- Running totals of the ledger (see the module docstring); never edited by hand ---
    spent = models.DecimalField(**MONEY, default=0, editable=False)
    leads_delivered = models.PositiveIntegerField(default=0, editable=False)
    counted_day = models.DateField(null=True, blank=True, editable=False, help_text="The day counted_day_leads is for.")
    counted_day_leads = models.PositiveIntegerField(default=0, editable=False)
    budget_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(spent__gte=0), name="campaign_spent_not_negative"),
            models.CheckConstraint(
                condition=models.Q(budget__isnull=True) | models.Q(spent__lte=models.F("budget")),
                name="campaign_spent_within_budget",
            ),
            models.CheckConstraint(
                condition=models.Q(total_lead_cap__isnull=True)
                | models.Q(leads_delivered__lte=models.F("total_lead_cap")),
                name="campaign_leads_within_cap",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = "The campaign must end after it starts."
        if self.product_id and self.lender_id and self.product.lender_id != self.lender_id:
            errors["product"] = "The product belongs to another lender."
        if self.product_id and self.currency and self.product.currency != self.currency:
            errors["currency"] = f"The product lends in {self.product.currency}; price the campaign in it too."
        if (self.min_requested_amount is not None and self.max_requested_amount is not None
                and self.min_requested_amount > self.max_requested_amount):
            errors["max_requested_amount"] = "The largest amount must be at least the smallest."
        errors.update(eligibility_errors(min_age=self.min_age, max_age=self.max_age))
        if self.budget is not None and self.spent and self.budget < self.spent:
            errors["budget"] = f"{self.spent} is already spent: the budget cannot be less."
        if self.total_lead_cap is not None and self.total_lead_cap < self.leads_delivered:
            errors["total_lead_cap"] = f"{self.leads_delivered} leads are already delivered: the cap cannot be less."
        if errors:
            raise ValidationError(errors)


class CampaignOrigin(models.Model):
    """An origin a campaign is shown to, with that origin's own lead caps.

    Uses the table Django made for the plain many-to-many before caps existed.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_origins")
    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="campaign_origins")
    daily_lead_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: none.")
    total_lead_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: none.")
    leads_delivered = models.PositiveIntegerField(default=0, editable=False)
    counted_day = models.DateField(null=True, blank=True, editable=False)
    counted_day_leads = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        db_table = "campaigns_campaign_origins"
        verbose_name = "origin of the campaign"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "origin"], name="campaign_origin_once"),
            models.CheckConstraint(
                condition=models.Q(total_lead_cap__isnull=True)
                | models.Q(leads_delivered__lte=models.F("total_lead_cap")),
                name="campaign_origin_leads_within_cap",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.origin}"

    def clean(self) -> None:
        if self.total_lead_cap is not None and self.total_lead_cap < self.leads_delivered:
            raise ValidationError(
                {"total_lead_cap": f"{self.leads_delivered} leads are already delivered: the cap cannot be less."}
            )


class LedgerEntry(models.Model):
    """One charge to a campaign: a delivered lead, or a result the lender reported. Append-only.

    A lead is charged at most once per campaign and kind (the unique constraint), however often a
    postback repeats; per campaign, because in compare mode one lead goes to several lenders.
    `amount` is what is owed; it is below `list_price` only when a result arrived with less budget
    left than its price (budgets are never exceeded: see campaign_result_charge).
    """

    class Kind(models.TextChoices):
        LEAD = "lead", "Lead delivered"
        APPROVED = "approved", "Approved (postback)"
        DISBURSED = "disbursed", "Disbursed (postback)"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="ledger")
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="ledger")
    origin = models.ForeignKey("origins.Origin", on_delete=models.PROTECT, related_name="+")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    list_price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    day = models.DateField(help_text="The marketplace day (settings.TIME_ZONE) of the charge.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["lead", "campaign", "kind"], name="ledger_once_per_lead_campaign_and_kind"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="ledger_amount_not_negative"),
        ]
        indexes = [
            models.Index(fields=["campaign", "day"]), models.Index(fields=["day", "kind"]),
            # The funnel report's rollup adds the entries created since its last run (apps/leads/funnel_rollup.py).
            models.Index(fields=["created_at"], name="ledger_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.amount} {self.currency}"
