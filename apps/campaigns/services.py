"""Writes to campaigns: delivering a lead (check and charge), charging results, pause / resume.

Exactness: every charge takes the campaign's row lock (SELECT ... FOR UPDATE) first, then reads
the running totals, checks the caps and the budget, and writes the ledger row and the totals in
the same transaction. Concurrent deliveries to one campaign therefore queue on that lock and
each sees the totals the previous one left, so no cap or budget is ever exceeded; the database
also refuses spent > budget and leads > total cap (check constraints) should a bug try.

Billing of results (decided here, see campaign_result_charge):
- A lead is charged at most once per campaign and kind (lead, approved, disbursed): the
  ledger's unique constraint, whatever the postback repeats.
- "disbursed" implies "approved": a disbursement applied to a lead never reported approved (the
  lender skipped the step, or the events crossed) charges both prices, once each.
- Results arrive after the lead was paid for, so a result cannot be refused; it is charged at
  most what is left of the budget (the lender never pays beyond its budget) and the ledger row
  keeps the full list price next to the amount charged, so staff can see any shortfall.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from django.db import transaction
from django.db.models import Case, F, Sum, Value, When
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignOrigin, LedgerEntry
from apps.campaigns.selectors import (
    RuleFailure,
    campaign_budget_alert,
    campaign_context,
    campaign_delivery_failure,
    lead_facts,
    leads_counted_on,
    marketplace_day,
)

logger = logging.getLogger(__name__)


class DeliveryRefused(Exception):
    """The lead's listing can no longer take it (a cap, the budget, the schedule, or the
    consumer's data against the delivery conditions). Raised inside the transaction that routes
    the lead, so nothing of the attempt is kept.

    `next_entry` is the best other listing this consumer qualifies for, or None; computed on
    first use, after the transaction (and the campaign's lock) is gone.
    """

    def __init__(self, failure: RuleFailure, *, lead) -> None:
        self.rule = failure.rule
        self.message = failure.message
        self.lead = lead
        super().__init__(f"{failure.rule}: {failure.message}")

    @cached_property
    def next_entry(self):
        from apps.listings.selectors import catalog_next_for_lead

        return catalog_next_for_lead(lead=self.lead, exclude_listing_ids={self.lead.listing_id})


def _campaign_locked(campaign_id: int) -> Campaign:
    """The campaign row, locked until the transaction ends (not its lender's or product's rows)."""
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("lender", "product")
        .get(pk=campaign_id)
    )


def lead_delivery_record(*, lead, campaign: Campaign | None = None, now: datetime | None = None) -> LedgerEntry | None:
    """Check the lead against a campaign (its own by default) and charge its delivery, or raise
    DeliveryRefused.

    Must run inside the transaction that routes the lead to the campaign's lender
    (journey_identity_submit; in compare mode, once per lender asked), so the lead is routed if
    and only if it is charged. A lead already delivered to that campaign is not charged again;
    a journey started outside any campaign (staff tools, tests) is routed uncharged.
    """
    campaign_id = campaign.pk if campaign is not None else lead.campaign_id
    if campaign_id is None:
        return None
    existing = LedgerEntry.objects.filter(lead=lead, campaign_id=campaign_id, kind=LedgerEntry.Kind.LEAD).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    campaign = _campaign_locked(campaign_id)
    context = campaign_context(campaign=campaign, origin=lead.origin, now=now)
    failure = campaign_delivery_failure(context, lead_facts(lead, marketplace_day(now)))
    if failure is not None:
        logger.info("lead %s not delivered to campaign %s: %s", lead.pk, campaign.pk, failure.rule)
        raise DeliveryRefused(failure, lead=lead)
    price = campaign.price_per_lead
    return _charge(campaign, lead=lead, kind=LedgerEntry.Kind.LEAD, amount=price, list_price=price, now=now)


# Which charges a postback status brings, in order ("disbursed" implies "approved").
RESULT_CHARGES: dict[str, list[str]] = {
    "approved": [LedgerEntry.Kind.APPROVED],
    "disbursed": [LedgerEntry.Kind.APPROVED, LedgerEntry.Kind.DISBURSED],
}
PRICE_FIELDS = {LedgerEntry.Kind.APPROVED: "price_per_approved", LedgerEntry.Kind.DISBURSED: "price_per_disbursed"}


def campaign_result_charge(*, lead, status: str, now: datetime | None = None) -> list[LedgerEntry]:
    """Charge the results a postback that moved the lead reports (the module docstring says how).

    Called by lead_postback_apply inside its transaction, with the lead's row locked, so two
    postbacks of one lead are charged one after the other; the unique (lead, campaign, kind) makes any
    repeat a no-op. Leads that were never delivered through a campaign are not charged.
    """
    kinds = RESULT_CHARGES.get(status, [])
    if not kinds:
        return []
    # The delivery to the lender that reports the result (in compare mode a lead has several).
    delivery = LedgerEntry.objects.filter(lead=lead, lender_id=lead.lender_id, kind=LedgerEntry.Kind.LEAD).first()
    if delivery is None:
        return []
    now = now or timezone.now()
    campaign = _campaign_locked(delivery.campaign_id)
    charged = set(
        LedgerEntry.objects.filter(lead=lead, campaign=campaign, kind__in=kinds).values_list("kind", flat=True)
    )
    entries = []
    for kind in kinds:
        if kind in charged:
            continue
        price = getattr(campaign, PRICE_FIELDS[kind])
        left = None if campaign.budget is None else max(campaign.budget - campaign.spent, Decimal(0))
        amount = price if left is None else min(price, left)
        entries.append(_charge(campaign, lead=lead, kind=kind, amount=amount, list_price=price, now=now,
                               origin_id=delivery.origin_id))
    return entries


def _charge(campaign: Campaign, *, lead, kind: str, amount: Decimal, list_price: Decimal, now: datetime,
            origin_id: int | None = None) -> LedgerEntry:
    """One ledger row and the running totals it moves. The caller holds the campaign's lock."""
    origin_id = origin_id or lead.origin_id
    day = marketplace_day(now)
    is_lead = kind == LedgerEntry.Kind.LEAD
    entry = LedgerEntry.objects.create(
        campaign=campaign, lead=lead, origin_id=origin_id, lender_id=campaign.lender_id, kind=kind, amount=amount,
        list_price=list_price, currency=campaign.currency, day=day, created_at=now,
    )
    counts = _lead_counted(day) if is_lead else {}
    Campaign.objects.filter(pk=campaign.pk).update(spent=F("spent") + amount, updated_at=now, **counts)
    campaign.spent += amount
    if is_lead:
        CampaignOrigin.objects.filter(campaign=campaign, origin_id=origin_id).update(**counts)
        campaign.leads_delivered += 1
        campaign.counted_day_leads = campaign.counted_day_leads + 1 if campaign.counted_day == day else 1
        campaign.counted_day = day
    _budget_alert_check(campaign, now)
    return entry


def _lead_counted(day) -> dict:
    """UPDATE values for one more lead, in all and on `day`; a count of an earlier day restarts
    at one. (In an UPDATE every expression reads the row as it was, so the day is set alongside.)"""
    return {
        "leads_delivered": F("leads_delivered") + 1,
        "counted_day_leads": Case(When(counted_day=day, then=F("counted_day_leads") + 1), default=Value(1)),
        "counted_day": day,
    }


def _budget_alert_check(campaign: Campaign, now: datetime) -> None:
    """Flag the campaign once, when its spend first crosses the alert threshold."""
    if campaign.budget_alerted_at is None and campaign_budget_alert(campaign):
        Campaign.objects.filter(pk=campaign.pk, budget_alerted_at__isnull=True).update(budget_alerted_at=now)
        campaign.budget_alerted_at = now
        logger.warning("campaign %s (%s) has spent %s of its %s %s budget", campaign.pk, campaign.name,
                       campaign.spent, campaign.budget, campaign.currency)


# --- Staff actions -----------------------------------------------------------------------------------


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> bool:
    running = Campaign.objects.filter(pk=campaign.pk, is_active=True)
    return bool(running.update(is_active=False, updated_at=timezone.now()))


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> bool:
    paused = Campaign.objects.filter(pk=campaign.pk, is_active=False)
    return bool(paused.update(is_active=True, updated_at=timezone.now()))


@transaction.atomic
def campaign_budget_alert_clear(*, campaign: Campaign) -> None:
    """After staff topped up the budget: alert again when the new threshold is crossed."""
    locked = _campaign_locked(campaign.pk)
    if not campaign_budget_alert(locked):
        Campaign.objects.filter(pk=campaign.pk).update(budget_alerted_at=None)


@dataclass(frozen=True)
class TotalsCheck:
    campaign: Campaign
    matches: bool
    detail: str


def campaign_totals_rebuild(*, campaign: Campaign) -> TotalsCheck:
    """Recompute the running totals from the ledger (staff action; the ledger is the record)."""
    with transaction.atomic():
        locked = _campaign_locked(campaign.pk)
        today = marketplace_day()
        leads = LedgerEntry.objects.filter(campaign=locked, kind=LedgerEntry.Kind.LEAD)
        spent = LedgerEntry.objects.filter(campaign=locked).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        counts = {"leads_delivered": leads.count(), "counted_day": today,
                  "counted_day_leads": leads.filter(day=today).count()}
        matches = (spent, counts["leads_delivered"]) == (locked.spent, locked.leads_delivered) and (
            counts["counted_day_leads"] == leads_counted_on(locked, today))
        Campaign.objects.filter(pk=locked.pk).update(spent=spent, **counts)
        for link in CampaignOrigin.objects.filter(campaign=locked):
            mine = leads.filter(origin_id=link.origin_id)
            CampaignOrigin.objects.filter(pk=link.pk).update(
                leads_delivered=mine.count(), counted_day=today, counted_day_leads=mine.filter(day=today).count()
            )
    detail = "matched the ledger" if matches else (
        f"was {locked.spent} / {locked.leads_delivered} leads, now {spent} / {counts['leads_delivered']}"
    )
    return TotalsCheck(campaign=locked, matches=matches, detail=detail)
