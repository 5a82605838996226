"""Reads for the origins' API: which client a token speaks for, an origin's own leads, and what
GET /api/v1/leads/{uuid} shows of one (its status by apps.origin_api.statuses, offers grouped
by amount, the reasons of a search without offers).

A lead's view costs five queries whatever the number of lenders and offers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from apps.leads.models import Decision, DecisionReason, DecisionRequest, Lead, Offer
from apps.leads.selectors import offer_amount_group
from apps.lenders.adapters.base import AmountGroup
from apps.lenders.adapters.parsing import sanitized_notice
from apps.lenders.models import LenderCall
from apps.lenders.selectors import rejection_classify
from apps.origin_api.models import OriginApiClient, OriginLead
from apps.origin_api.selection import offer_url
from apps.origin_api.statuses import ApiStatus, SearchFacts, api_status


def origin_client_for_application(*, application_id: int) -> OriginApiClient | None:
    return OriginApiClient.objects.select_related("origin", "application").filter(
        application_id=application_id).first()


def origin_clients(*, origin, environment: str) -> list[OriginApiClient]:
    return list(OriginApiClient.objects.filter(origin=origin, environment=environment).select_related("application"))


def origin_lead_find(*, origin, environment: str, partner_lead_id: str) -> OriginLead | None:
    return OriginLead.objects.select_related("lead").filter(
        origin=origin, environment=environment, partner_lead_id=partner_lead_id).first()


def origin_lead_get(*, origin, environment: str, lead_uuid: uuid.UUID | str) -> OriginLead | None:
    """The origin's own lead in that environment; another origin's (or environment's) is None."""
    try:
        key = uuid.UUID(str(lead_uuid))
    except ValueError:
        return None
    return OriginLead.objects.select_related("lead__chosen_offer").filter(
        uuid=key, origin=origin, environment=environment).first()


# --- A lead as the origin reads it ----------------------------------------------------------------


@dataclass(frozen=True)
class ApiOffer:
    lender_code: str
    lender_name: str
    product_id: str
    listing_id: str
    offer: Offer
    offer_url: str = ""  # ours: following it selects the offer and hands the borrower to the lender

    @property
    def total_to_repay(self) -> Decimal:
        """What the consumer pays over the term: the monthly payment times the months."""
        return self.offer.monthly_payment * self.offer.term_months

    @property
    def apr(self) -> Decimal | None:
        terms = getattr(self.offer, "terms", None)
        return terms.apr if terms is not None else None


@dataclass(frozen=True)
class ApiReason:
    lender_code: str
    lender_name: str
    category: str
    adverse_action_notice: str  # sanitized HTML; empty when the lender sent none


@dataclass(frozen=True)
class LenderOutcome:
    lender_code: str
    lender_name: str
    outcome: str  # approved, rejected, or failed (no answer: technical failure or none in time)
    offers: int


@dataclass(frozen=True)
class LeadView:
    origin_lead: OriginLead
    lead: Lead
    status: ApiStatus
    offers: dict[str, list[ApiOffer]]  # requested / higher / lower
    reasons: list[ApiReason]
    lenders_asked: int
    lenders_answered: int
    selected: ApiOffer | None
    outcomes: tuple[LenderOutcome, ...] = ()  # each asked lender that has answered or failed


def origin_lead_view(origin_lead: OriginLead, *, now: datetime | None = None) -> LeadView:
    lead = origin_lead.lead
    asks = list(DecisionRequest.objects.filter(lead=lead).select_related("lender", "listing", "product"))
    decisions = {decision.lender_id: decision for decision in
                 Decision.objects.filter(lead=lead).select_related("reason_detail")}
    offers = list(Offer.objects.filter(decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED)
                  .select_related("terms", "decision").order_by("monthly_payment", "amount", "id"))
    facts = _search_facts(lead, asks, decisions, offers)
    status = api_status(lead_status=lead.status, offer_chosen=lead.chosen_offer_id is not None, facts=facts,
                        deadline=origin_lead.search_deadline, now=now or timezone.now())
    by_lender = {ask.lender_id: ask for ask in asks}
    api_offers = [_api_offer(offer, by_lender[offer.decision.lender_id], origin_lead.pk) for offer in offers
                  if offer.decision.lender_id in by_lender]
    grouped: dict[str, list[ApiOffer]] = {group.value: [] for group in AmountGroup}
    for item in api_offers:
        grouped.setdefault(offer_amount_group(item.offer, lead.requested_amount), []).append(item)
    selected = next((item for item in api_offers if item.offer.pk == lead.chosen_offer_id), None)
    return LeadView(
        origin_lead=origin_lead, lead=lead, status=status, offers=grouped,
        reasons=_reasons(asks, decisions) if not offers else [],
        lenders_asked=len(asks), lenders_answered=sum(moment is not None for moment in facts.finished_at),
        selected=selected, outcomes=_outcomes(asks, decisions, offers),
    )


def _outcomes(asks: list[DecisionRequest], decisions: dict[int, Decision], offers: list[Offer]) -> tuple:
    outcomes = []
    for ask in asks:
        decision = decisions.get(ask.lender_id)
        if decision is not None and decision.outcome != Decision.Outcome.PENDING:
            outcome = str(decision.outcome)
        elif ask.state == DecisionRequest.State.FAILED:
            outcome = "failed"
        else:
            continue
        count = sum(offer.decision_id == decision.pk for offer in offers) if decision is not None else 0
        outcomes.append(LenderOutcome(lender_code=ask.lender.code, lender_name=ask.lender.name, outcome=outcome,
                                      offers=count))
    return tuple(outcomes)


def _search_facts(lead: Lead, asks: list[DecisionRequest], decisions: dict[int, Decision],
                  offers: list[Offer]) -> SearchFacts:
    finished: list[datetime | None] = []
    for ask in asks:
        decision = decisions.get(ask.lender_id)
        if decision is not None and decision.outcome != Decision.Outcome.PENDING:
            finished.append(decision.updated_at)
        elif ask.state == DecisionRequest.State.FAILED:
            finished.append(ask.updated_at)
        else:
            finished.append(None)
    approvals = [decision.updated_at for decision in decisions.values()
                 if decision.outcome == Decision.Outcome.APPROVED and any(o.decision_id == decision.pk for o in offers)]
    started = bool(decisions) or LenderCall.objects.filter(lead=lead).exists()
    return SearchFacts(
        asked=len(asks), calls_started=started, first_offer_at=min(approvals, default=None),
        finished_at=tuple(finished), failed=sum(ask.state == DecisionRequest.State.FAILED for ask in asks),
    )


def _api_offer(offer: Offer, ask: DecisionRequest, origin_lead_id: int) -> ApiOffer:
    return ApiOffer(lender_code=ask.lender.code, lender_name=ask.lender.name, product_id=ask.product.product_id,
                    listing_id=ask.listing.listing_id, offer=offer,
                    offer_url=offer_url(origin_lead_id=origin_lead_id, offer_id=offer.pk))


def _reasons(asks: list[DecisionRequest], decisions: dict[int, Decision]) -> list[ApiReason]:
    """Each rejecting lender's reason, normalized (DecisionReason categories), with its adverse
    action notice sanitized again on the way out (nh3), as the hosted flow shows it."""
    reasons = []
    for ask in asks:
        decision = decisions.get(ask.lender_id)
        if decision is None or decision.outcome != Decision.Outcome.REJECTED:
            continue
        try:
            detail: DecisionReason | None = decision.reason_detail
        except DecisionReason.DoesNotExist:
            detail = None
        category = detail.category if detail is not None else rejection_classify(decision.reason)
        notice = sanitized_notice(detail.notice_html) if detail is not None else ""
        reasons.append(ApiReason(lender_code=ask.lender.code, lender_name=ask.lender.name, category=str(category),
                                 adverse_action_notice=notice))
    return reasons
