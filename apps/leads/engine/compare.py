"""Compare mode: one journey, many lenders asked at once, each decision stored as it arrives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.campaigns.selectors import RuleFailure
from apps.campaigns.services import lead_deliveries_record
from apps.leads.engine.outcomes import Action, AttemptOutcome
from apps.leads.enqueue import prequalify_many_enqueue
from apps.leads.models import DecisionRequest, Lead, LeadStatus
from apps.lenders.models import CircuitState


def lender_decisions_request(*, lead: Lead, entries: Iterable[Any], first: bool = False) -> list[int]:
    """Ask every lender of `entries` for a decision at once; returns the lender ids asked.

    `entries` are catalog entries (anything with `.listing` and `.campaign`, such as
    apps.campaigns.catalog.CatalogEntry): one ask per lender, for its first entry whose campaign
    can take the lead. Lenders that are inactive or whose circuit is open are skipped. An ask
    that failed before is asked again. Each ask is a task on the lender_calls queue, enqueued
    when the transaction commits, so the K calls run side by side on the worker's threads and
    each decision is stored as it arrives.

    The lead is delivered to each new lender's campaign as a single journey is (its conditions,
    caps and budget checked, the delivery charged), all campaigns at once
    (apps.campaigns.services.lead_deliveries_record): no lender call starts before this
    transaction commits, so its cost is paid by every lender of the fan-out. `first` says the
    caller knows the lead was never asked nor delivered (it has just left NEW under its row
    lock), so nothing earlier is read.
    """
    # The asks made before (a "try again"), read at once; new asks are inserted at once at the end.
    earlier = {} if first else {
        ask.lender_id: ask for ask in DecisionRequest.objects.filter(lead=lead).only("lender_id", "state")}
    lenders: list[int] = []  # in the order of their first entry
    candidates: dict[int, list[Any]] = {}  # lender -> its entries, for lenders not asked before
    for entry in entries:
        lender = entry.campaign.lender
        if lender.pk not in lenders:
            if not lender.is_active or lender.circuit_state == CircuitState.OPEN:
                continue
            lenders.append(lender.pk)
        if lender.pk not in earlier:
            candidates.setdefault(lender.pk, []).append(entry)
    delivered = lead_deliveries_record(
        lead=lead, campaign_ids=[entry.campaign.pk for group in candidates.values() for entry in group],
        delivered_before=not first)
    asked: list[int] = []
    new_asks: list[DecisionRequest] = []
    asked_again: list[int] = []
    for lender_id in lenders:
        ask = earlier.get(lender_id)
        if ask is None:
            # The first entry whose campaign took the lead (at most one campaign per lender does).
            entry = next((entry for entry in candidates[lender_id]
                          if not isinstance(delivered.get(entry.campaign.pk, RuleFailure), RuleFailure)), None)
            if entry is None:
                continue  # none of this lender's campaigns can take the lead
            new_asks.append(DecisionRequest(lead=lead, lender_id=lender_id, listing=entry.listing,
                                            product=entry.listing.product, campaign=entry.campaign))
        elif ask.state == DecisionRequest.State.FAILED:
            asked_again.append(ask.pk)
        else:
            continue
        asked.append(lender_id)
    DecisionRequest.objects.bulk_create(new_asks)
    if asked_again:
        DecisionRequest.objects.filter(pk__in=asked_again).update(
            state=DecisionRequest.State.ASKED, failure="", updated_at=timezone.now())
    if asked:
        prequalify_many_enqueue(lead_id=lead.pk, lender_ids=asked)
    return asked


def lender_compare_dispatch(*, lead_id: int) -> AttemptOutcome:
    """A compare-mode journey's "try again": ask again every lender whose ask failed."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id, compare_mode=True).first()
        if lead is None or lead.status != LeadStatus.AWAITING_DECISION:
            return AttemptOutcome(Action.SKIPPED, detail="not a compare-mode journey awaiting decisions")
        if lead.consent_revoked_at is not None:
            return AttemptOutcome(Action.SKIPPED, detail="the consumer revoked their consent")
        failed = list(DecisionRequest.objects.filter(lead_id=lead_id, state=DecisionRequest.State.FAILED)
                      .values_list("lender_id", flat=True))
        DecisionRequest.objects.filter(lead_id=lead_id, lender_id__in=failed).update(
            state=DecisionRequest.State.ASKED, failure="", updated_at=timezone.now())
        if failed:
            prequalify_many_enqueue(lead_id=lead_id, lender_ids=failed)
    return AttemptOutcome(Action.RECORDED, detail=f"asked {len(failed)} lenders again")
