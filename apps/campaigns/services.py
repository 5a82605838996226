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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.campaigns import rows
from apps.campaigns.catalog import catalog_next_for_lead
from apps.campaigns.models import Campaign, CampaignOrigin, LedgerEntry
from apps.campaigns.selectors import (
    CampaignContext,
    RuleFailure,
    campaign_budget_alert,
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
    (journey_identity_submit), so the lead is routed if and only if it is charged. A lead
    already delivered to that campaign is not charged again; a journey started outside any
    campaign (staff tools, tests) is routed uncharged. The check and the charge are those of
    lead_deliveries_record, for one campaign.
    """
    campaign_id = campaign.pk if campaign is not None else lead.campaign_id
    if campaign_id is None:
        return None
    outcome = lead_deliveries_record(lead=lead, campaign_ids=[campaign_id], now=now).get(campaign_id)
    if outcome is None:
        raise Campaign.DoesNotExist(f"No campaign {campaign_id}.")
    if isinstance(outcome, RuleFailure):
        raise DeliveryRefused(outcome, lead=lead)
    return outcome


def lead_deliveries_record(
    *, lead, campaign_ids: Sequence[int], now: datetime | None = None, delivered_before: bool = True,
) -> dict[int, LedgerEntry | RuleFailure]:
    """Check the lead against several campaigns and charge each delivery, at most one per
    lender: compare mode asks each lender once, for the first of its campaigns (in the order
    given) that can take the lead. Returns, per campaign tried, its ledger row (charged now, or
    earlier: a lead is never charged twice by a campaign) or the rule that refused it; a
    campaign not tried (its lender already served by an earlier one, or gone) is left out.

    Must run inside the transaction that routes the lead. Each campaign is decided exactly as a
    single delivery is (the module docstring: caps, budget and counts read under the row lock),
    in a constant number of statements whatever the number of campaigns: the ledger rows
    already there, every campaign locked in one query, their links to the lead's origin, then
    the ledger rows inserted and the totals moved in one statement per table. A refusal writes
    nothing, so no savepoint is needed to keep the others. A caller that knows the lead was
    never delivered (a journey's first ask, under the lead's row lock) passes
    `delivered_before=False` and the ledger is not read.
    """
    wanted = list(dict.fromkeys(campaign_ids))
    if not wanted:
        return {}
    now = now or timezone.now()
    today = marketplace_day(now)
    earlier = {entry.campaign_id: entry for entry in LedgerEntry.objects.filter(
        lead=lead, campaign_id__in=wanted, kind=LedgerEntry.Kind.LEAD)} if delivered_before else {}
    campaigns = rows.campaigns_locked([campaign_id for campaign_id in wanted if campaign_id not in earlier])
    links = rows.origin_links(campaign_ids=list(campaigns), origin_id=lead.origin_id)
    facts = lead_facts(lead, today)
    results: dict[int, LedgerEntry | RuleFailure] = {}
    served: set[int] = set()  # lenders the lead is delivered to
    for campaign_id in wanted:
        campaign = campaigns.get(campaign_id)
        lender_id = earlier[campaign_id].lender_id if campaign_id in earlier else getattr(campaign, "lender_id", None)
        if lender_id is None or lender_id in served:
            continue
        if campaign_id in earlier:
            results[campaign_id] = earlier[campaign_id]
            served.add(lender_id)
            continue
        context = CampaignContext(campaign=campaign, origin=lead.origin, now=now, today=today,
                                  origin_link=links.get(campaign_id))
        failure = campaign_delivery_failure(context, facts)
        if failure is not None:
            logger.info("lead %s not delivered to campaign %s: %s", lead.pk, campaign_id, failure.rule)
            results[campaign_id] = failure
            continue
        price = campaign.price_per_lead
        results[campaign_id] = _ledger_entry(campaign, lead=lead, kind=LedgerEntry.Kind.LEAD, amount=price,
                                             list_price=price, now=now, origin_id=lead.origin_id)
        served.add(lender_id)
    _deliveries_charge([entry for entry in results.values() if isinstance(entry, LedgerEntry) and entry.pk is None],
                       campaigns, origin_id=lead.origin_id, now=now)
    return results


def _deliveries_charge(entries: list[LedgerEntry], campaigns: dict[int, Campaign], *, origin_id: int,
                       now: datetime) -> None:
    """Insert the new lead deliveries' ledger rows and move their campaigns' totals, in one
    statement (apps/campaigns/rows.py). The caller holds each campaign's lock and charges it at
    most one lead."""
    if not entries:
        return
    day = entries[0].day
    rows.lead_deliveries_charge(entries, origin_id=origin_id, day=day, now=now)
    crossed = []
    for entry in entries:
        campaign = campaigns[entry.campaign_id]
        _lead_totals_add(campaign, entry.amount, day)
        if campaign.budget_alerted_at is None and campaign_budget_alert(campaign):
            crossed.append(campaign)
    _budget_alerts_flag(crossed, now)


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


def _ledger_entry(campaign: Campaign, *, lead, kind: str, amount: Decimal, list_price: Decimal, now: datetime,
                  origin_id: int) -> LedgerEntry:
    """One ledger row (unsaved)."""
    return LedgerEntry(
        campaign=campaign, lead=lead, origin_id=origin_id, lender_id=campaign.lender_id, kind=kind, amount=amount,
        list_price=list_price, currency=campaign.currency, day=marketplace_day(now), created_at=now,
    )


def _charge(campaign: Campaign, *, lead, kind: str, amount: Decimal, list_price: Decimal, now: datetime,
            origin_id: int) -> LedgerEntry:
    """A result's ledger row and the spend it adds (lead deliveries: _deliveries_charge). The
    caller holds the campaign's lock."""
    entry = _ledger_entry(campaign, lead=lead, kind=kind, amount=amount, list_price=list_price, now=now,
                          origin_id=origin_id)
    entry.save(force_insert=True)
    Campaign.objects.filter(pk=campaign.pk).update(spent=F("spent") + amount, updated_at=now)
    campaign.spent += amount
    if campaign.budget_alerted_at is None and campaign_budget_alert(campaign):
        _budget_alerts_flag([campaign], now)
    return entry


def _lead_totals_add(campaign: Campaign, amount: Decimal, day) -> None:
    """The in-memory twin of the charge's count of one more lead (rows.LEAD_COUNTED), for the
    budget alert's check."""
    campaign.spent += amount
    campaign.leads_delivered += 1
    campaign.counted_day_leads = campaign.counted_day_leads + 1 if campaign.counted_day == day else 1
    campaign.counted_day = day


def _budget_alerts_flag(campaigns: list[Campaign], now: datetime) -> None:
    """Flag campaigns once, when their spend first crossed the alert threshold (one UPDATE)."""
    if not campaigns:
        return
    Campaign.objects.filter(pk__in=[campaign.pk for campaign in campaigns], budget_alerted_at__isnull=True).update(
        budget_alerted_at=now)
    for campaign in campaigns:
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
