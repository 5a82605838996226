"""Daily rollups, one table per kind, each row a marketplace day (settings.TIME_ZONE) and a
group. Written only by apps/reports/rollups.py, which rebuilds whole days (delete and insert in
one transaction), so running a day again gives the same rows. The dashboards read these alone.

Nullable group columns (a lead with no lender or campaign yet) are counted in their own group;
the unique constraints treat NULLs as equal (NULLS NOT DISTINCT) so each group has one row.
"""

from django.db import models


class RollupState(models.Model):
    """How far each kind's rollup has read: rows changed after `watermark` are read next run."""

    kind = models.CharField(max_length=20, unique=True)
    watermark = models.DateTimeField(null=True)
    ran_at = models.DateTimeField(null=True)
    days_rebuilt = models.PositiveIntegerField(default=0, help_text="By the last run.")

    def __str__(self) -> str:
        return self.kind


class Dashboard(RollupState):
    """The admin entry of the dashboards; its view permission (reports.view_dashboard) is the
    one that shows them (prosperas/roles.py gives it to the analyst role)."""

    class Meta:
        proxy = True
        default_permissions = ("view",)


class FunnelDay(models.Model):
    """Leads started on `day` (their cohort) and how far each got, however late it got there."""

    day = models.DateField()
    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="+")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, null=True, related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, null=True, related_name="+")
    started = models.PositiveIntegerField(default=0)
    identity = models.PositiveIntegerField(default=0)
    decision = models.PositiveIntegerField(default=0)
    offer = models.PositiveIntegerField(default=0)
    handed_off = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    disbursed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "origin", "lender", "campaign"], nulls_distinct=False,
                                               name="funnel_day_one_row_per_group")]


class FunnelLead(models.Model):
    """Where the funnel rollup last counted a lead: its group in FunnelDay and the stages it had
    reached. A run reads only the leads changed since the last one and moves their counts from
    what is kept here to what they are now, so its cost follows the changes, not the size of the
    days they touched. Deleted with its lead (retention): FunnelDay keeps counting it."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="+")
    day = models.DateField()
    origin_id = models.BigIntegerField()
    lender_id = models.BigIntegerField(null=True)
    campaign_id = models.BigIntegerField(null=True)
    identity = models.BooleanField()
    decision = models.BooleanField()
    offer = models.BooleanField()
    handed_off = models.BooleanField()
    approved = models.BooleanField()
    disbursed = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="funnel_lead_day")]


class LenderDay(models.Model):
    """A lender's outbound calls started on `day`: latency percentiles and outcomes."""

    day = models.DateField()
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, related_name="+")
    calls = models.PositiveIntegerField(default=0)
    p50_ms = models.PositiveIntegerField(null=True)
    p95_ms = models.PositiveIntegerField(null=True)
    over_target = models.PositiveIntegerField(default=0, help_text="Calls slower than the 5 s target.")
    technical_failures = models.PositiveIntegerField(default=0)
    permanent_failures = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0, help_text="Decisions answered approved.")
    rejected = models.PositiveIntegerField(default=0, help_text="Decisions answered rejected.")
    circuit_opened = models.PositiveIntegerField(default=0)
    circuit_changes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "lender"], name="lender_day_one_row_per_lender")]


class PostbackDay(models.Model):
    """A lender's postbacks received on `day` (accepted), and its refused signed requests by reason."""

    day = models.DateField()
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, null=True, related_name="+")
    accepted = models.PositiveIntegerField(default=0)
    applied = models.PositiveIntegerField(default=0)
    repeats = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    contradicts = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0, help_text="Received more than REPORTS_LATE_POSTBACK_SECONDS "
                                                             "after it occurred.")
    refused = models.JSONField(default=dict, help_text="Refused requests by reason.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "lender"], nulls_distinct=False,
                                               name="postback_day_one_row_per_lender")]


class CampaignDay(models.Model):
    """A campaign's ledger on `day`: spend and charged results."""

    day = models.DateField()
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    spend = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    leads = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    disbursed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "campaign"], name="campaign_day_one_row_per_campaign")]
