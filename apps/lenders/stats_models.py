"""The lender call statistics' rollup (apps/lenders/call_spans.py): each lender's finished
outbound calls by the hour and by the marketplace day they started, with their outcomes and a
latency histogram, so a week's statistics read a week of these rows, not a week of calls.

Imported by apps/lenders/models.py, so they are the lenders app's models.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models


class LenderCallSpan(models.Model):
    """A lender's outbound calls started within one hour, or one marketplace day, and finished:
    how many ended in each outcome, and how many took each latency bucket's time
    (apps/lenders/latency.py). Calls started from LenderCallSpanMark.through on are not in it yet."""

    class Span(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    lender_id = models.BigIntegerField()
    span = models.CharField(max_length=4, choices=Span.choices)
    start = models.DateTimeField()
    outcomes = models.JSONField(default=dict, help_text="Calls by outcome.")
    latency = ArrayField(models.IntegerField(), help_text="Timed calls by latency bucket.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lender_id", "span", "start"], name="lender_call_span_once")]


class LenderCallSpanMark(models.Model):
    """One row: LenderCallSpan counts every call started before `through`."""

    through = models.DateTimeField()
