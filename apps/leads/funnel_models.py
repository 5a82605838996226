"""The funnel report's rollup (apps/leads/funnel_rollup.py): each stage counted on the marketplace
day it happened, per origin, lender, campaign and currency, so a month's report reads a month of
these rows and only the minutes since the last run from the raw ones (apps/leads/reports.py).

Imported by apps/leads/models.py, so they are the leads app's models.
"""

from django.db import models


class FunnelStageDay(models.Model):
    """What the funnel report counts of one day and group: the ledger's charged results and spend
    (`currency` is the ledger's; '' on rows of the journeys' own stages), and the journeys'
    decisions, submissions and hand-offs. The ledger's part counts its entries created before
    FunnelStageMark.through; the journeys' part, what FunnelStageLead kept of each lead."""

    day = models.DateField()
    origin_id = models.BigIntegerField()
    lender_id = models.BigIntegerField(null=True)
    campaign_id = models.BigIntegerField()
    currency = models.CharField(max_length=3, blank=True)
    leads = models.IntegerField(db_default=0)
    approved = models.IntegerField(db_default=0)
    disbursed = models.IntegerField(db_default=0)
    spend = models.DecimalField(max_digits=16, decimal_places=2, db_default=0)
    decisions = models.IntegerField(db_default=0)
    approved_decisions = models.IntegerField(db_default=0)
    submitted = models.IntegerField(db_default=0)
    handed_off = models.IntegerField(db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "origin_id", "lender_id", "campaign_id", "currency"],
                                               nulls_distinct=False, name="funnel_stage_day_one_row_per_group")]


class FunnelStageLead(models.Model):
    """Where the rollup last counted a campaign's lead: its group, the day of its lender's
    decision (and whether it approved), of its submission and of its hand-off. A run moves a
    changed lead's counts from these to what the lead shows now. Deleted with its lead
    (retention): FunnelStageDay keeps counting it."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="+")
    origin_id = models.BigIntegerField()
    lender_id = models.BigIntegerField(null=True)
    campaign_id = models.BigIntegerField()
    decision_day = models.DateField(null=True)
    decision_approved = models.BooleanField(default=False)
    submitted_day = models.DateField(null=True)
    handed_off_day = models.DateField(null=True)


class FunnelStageMark(models.Model):
    """One row: how far the rollup has read. Ledger entries created before `through` are counted
    in FunnelStageDay, and every lead changed before `leads_through` is counted as it then stood."""

    through = models.DateTimeField()
    leads_through = models.DateTimeField(null=True, help_text="When the last run read the changed leads.")
