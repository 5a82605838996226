"""Reads of a journey: which lead a token names, its offers, its next step; the lender work it
is owed (for the engine and its sweep); compare mode's status; rejections as the consumer reads
them.

The step a lead belongs on is derived from its status alone, so a reload, the back button or an
old tab can always be sent to the one page that fits the journey now (`journey_step`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, OuterRef
from django.utils.safestring import SafeString, mark_safe

from apps.leads.models import Decision, DecisionReason, DecisionRequest, Lead, LeadEvent, LeadStatus, Offer
from apps.lenders import selectors as lender_selectors
from apps.lenders.adapters.base import AmountGroup
from apps.lenders.adapters.parsing import sanitized_notice
from apps.lenders.models import LenderCall


class JourneyStep:
    """The pages of the hosted flow, named as the flow's URL names."""

    IDENTITY = "identity"
    DECISION = "decision"
    DETAILS = "details"
    HANDOFF = "handoff"


# Statuses in which the consumer is waiting on the lender: the page polls for a change.
WAITING_STATUSES = frozenset({LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.SUBMITTING})

# A journey that has ended for this consumer: a new choice in the catalog starts a new journey
# instead of resuming this one (a consumer found not eligible by one lender may try another).
ENDED_STATUSES = frozenset(
    {
        LeadStatus.NOT_ELIGIBLE,
        LeadStatus.HANDED_OFF,
        LeadStatus.PRE_APPROVED,
        LeadStatus.APPROVED,
        LeadStatus.DISBURSED,
        LeadStatus.REJECTED,
        LeadStatus.CANCELLED,
    }
)

# Statuses set by the lender's postbacks, after the consumer was handed off.
LENDER_REPORTED_STATUSES = frozenset(
    {LeadStatus.PRE_APPROVED, LeadStatus.APPROVED, LeadStatus.DISBURSED, LeadStatus.REJECTED, LeadStatus.CANCELLED}
)

_STEP_BY_STATUS = {
    LeadStatus.NEW: JourneyStep.IDENTITY,
    LeadStatus.AWAITING_DECISION: JourneyStep.DECISION,
    LeadStatus.DECISION_PENDING: JourneyStep.DECISION,
    LeadStatus.NOT_ELIGIBLE: JourneyStep.DECISION,
    LeadStatus.DECISION_FAILED: JourneyStep.DECISION,
    LeadStatus.OFFERED: JourneyStep.DECISION,
    LeadStatus.SUBMITTING: JourneyStep.HANDOFF,
    LeadStatus.SUBMISSION_FAILED: JourneyStep.HANDOFF,
    LeadStatus.SUBMITTED: JourneyStep.HANDOFF,
    LeadStatus.HANDED_OFF: JourneyStep.HANDOFF,
    **{status: JourneyStep.HANDOFF for status in LENDER_REPORTED_STATUSES},
}


def journey_get(*, public_token: str) -> Lead | None:
    """The lead a journey URL names, with what every page of the flow shows about it."""
    # get(), not first(): the token is unique, and first() would sort by Lead's default ordering.
    try:
        return Lead.objects.select_related("origin", "listing", "product", "lender", "chosen_offer").get(
            public_token=public_token
        )
    except Lead.DoesNotExist:
        return None


def journey_step(lead: Lead) -> str:
    """The page this lead belongs on now.

    An offered lead with an offer already chosen goes on to the details page; the details page
    links back to the offers, so the choice can still be changed.
    """
    if lead.status == LeadStatus.OFFERED and lead.chosen_offer_id is not None:
        return JourneyStep.DETAILS
    return _STEP_BY_STATUS[LeadStatus(lead.status)]


def journey_is_waiting(lead: Lead) -> bool:
    return lead.status in WAITING_STATUSES


def journey_has_ended(lead: Lead) -> bool:
    return lead.status in ENDED_STATUSES


def journey_offers(*, lead: Lead) -> list[Offer]:
    """The offers of the lead's lender's approving decision, smallest amount first."""
    return list(
        Offer.objects.filter(
            decision__lead=lead, decision__lender_id=lead.lender_id, decision__outcome=Decision.Outcome.APPROVED
        ).order_by("amount", "term_months", "id")
    )


# --- lender work owed to journeys ------------------------------------------------------------

# The lead states in which a lender call is owed, and the capability that owes it.
WAITING_ON_LENDER = {
    LeadStatus.AWAITING_DECISION: LenderCall.Capability.PREQUALIFY,
    LeadStatus.SUBMITTING: LenderCall.Capability.SUBMIT,
}


def lender_round_started_at(*, lead_id: int) -> datetime | None:
    """When the current round of attempts began: the consumer's last "try again", if any.

    The retry budget (Lender.max_retries) is spent per round, so a consumer who retries after a
    technical failure gets a fresh set of attempts, while a task redelivered by the broker or
    re-enqueued by the sweep does not.
    """
    event = LeadEvent.objects.filter(lead_id=lead_id, kind=LeadEvent.Kind.RETRY).order_by("-created_at").first()
    return event.created_at if event else None


def lender_technical_failures_in_round(*, lead_id: int, lender_id: int, capability: str) -> int:
    calls = lender_selectors.lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).filter(
        outcome=LenderCall.Outcome.TECHNICAL_FAILURE
    )
    started = lender_round_started_at(lead_id=lead_id)
    if started is not None:
        calls = calls.filter(started_at__gte=started)
    return calls.count()


def leads_due_for_lender_work(*, stale_before: datetime, limit: int) -> list[Lead]:
    """Journeys waiting on a lender with no news since `stale_before`: their task was lost.

    "No news" means the lead has not moved and no call of any outcome started since then: a
    lead between two retries has a recent failed call and is left to its own retry.
    """
    recent_calls = LenderCall.objects.filter(lead=OuterRef("pk"), started_at__gte=stale_before)
    return list(
        Lead.objects.filter(status__in=list(WAITING_ON_LENDER), updated_at__lt=stale_before, lender__isnull=False)
        .exclude(Exists(recent_calls))
        .order_by("updated_at")
        .only("pk", "status", "lender_id")[:limit]
    )


COMPARE_OPEN_STATUSES = (LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED)


def decision_requests_due(*, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
    """Compare-mode asks with no decision and no call since `stale_before`: (lead_id, lender_id)."""
    recent_calls = LenderCall.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"), started_at__gte=stale_before)
    decided = Decision.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"))
    return list(
        DecisionRequest.objects.filter(
            state=DecisionRequest.State.ASKED, updated_at__lt=stale_before, lead__status__in=COMPARE_OPEN_STATUSES,
        )
        .exclude(Exists(recent_calls)).exclude(Exists(decided))
        .order_by("updated_at").values_list("lead_id", "lender_id")[:limit]
    )


def pending_decisions_due(*, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
    """Pending decisions nobody has asked about since `stale_before` (their poll task was lost)."""
    recent_calls = LenderCall.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"), started_at__gte=stale_before)
    ended_asks = DecisionRequest.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"),
                                                state=DecisionRequest.State.FAILED)
    return list(
        Decision.objects.filter(
            outcome=Decision.Outcome.PENDING, updated_at__lt=stale_before,
            lead__status__in=(LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED),
        )
        .exclude(Exists(recent_calls)).exclude(Exists(ended_asks))
        .order_by("updated_at").values_list("lead_id", "lender_id")[:limit]
    )


# --- compare mode ---------------------------------------------------------------------------


def compare_status(*, lead_id: int) -> str:
    """A compare-mode journey's status from every asked lender's answer so far:

    - `offered` as soon as one lender approved with offers;
    - else `awaiting_decision` while no asked lender has answered or failed yet, and
      `decision_pending` while some have but others are still pending or awaiting;
    - else `decision_failed` when any asked lender failed (technically, permanently or by
      timing out): the consumer may try again, and only the failed lenders are asked again;
    - else `not_eligible`: every asked lender rejected (an approval without offers counts as one).

    Each of a fan-out's K decisions is stored with this worked out under the lead's lock, so it
    reads plain (lender, outcome) and (lender, state) pairs, no rows with counts, and stops at
    the first query once an approval with offers is stored.
    """
    if Offer.objects.filter(decision__lead_id=lead_id, decision__outcome=Decision.Outcome.APPROVED).exists():
        return LeadStatus.OFFERED
    outcomes = dict(Decision.objects.filter(lead_id=lead_id).values_list("lender_id", "outcome"))
    waiting = failed = answered = 0
    for lender_id, state in DecisionRequest.objects.filter(lead_id=lead_id).values_list("lender_id", "state"):
        outcome = outcomes.get(lender_id)
        if outcome is not None and outcome != Decision.Outcome.PENDING:
            answered += 1
        elif state == DecisionRequest.State.FAILED:
            failed += 1
        else:
            waiting += 1
            answered += outcome is not None  # a pending answer is an answer
    if waiting:
        return LeadStatus.DECISION_PENDING if (answered or failed) else LeadStatus.AWAITING_DECISION
    if failed or not answered:
        return LeadStatus.DECISION_FAILED
    return LeadStatus.NOT_ELIGIBLE


def compare_offers(*, lead: Lead) -> list[Offer]:
    """A compare-mode journey's offers from every lender that approved, each with its decision's
    lender and its OfferTerms (APR, fee, amount group) loaded; lowest monthly payment first."""
    return list(
        Offer.objects.filter(decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED)
        .select_related("decision__lender", "terms").order_by("monthly_payment", "amount", "id")
    )


def decision_request_for_offer(offer: Offer) -> DecisionRequest | None:
    """The compare-mode ask an offer answers (its lender, listing, product and campaign)."""
    return (
        DecisionRequest.objects.filter(lead_id=offer.decision.lead_id, lender_id=offer.decision.lender_id)
        .select_related("listing", "product", "campaign").first()
    )


# --- offers ---------------------------------------------------------------------------------


def offer_amount_group(offer: Offer, requested_amount: int | Decimal | None) -> str:
    """requested / higher / lower than the amount asked for (seed 002's amount ranges). The
    lender's own grouping wins when it gave one (OfferTerms); otherwise it is computed."""
    try:
        lender_group = offer.terms.amount_group
    except ObjectDoesNotExist:
        lender_group = ""
    if lender_group:
        return lender_group
    if requested_amount is None or offer.amount == Decimal(requested_amount):
        return AmountGroup.REQUESTED
    return AmountGroup.HIGHER if offer.amount > Decimal(requested_amount) else AmountGroup.LOWER


# --- rejections -----------------------------------------------------------------------------


def rejection_category(decision: Decision) -> str:
    """A rejected decision's category: as stored when it was recorded, else from its reason."""
    detail = DecisionReason.objects.filter(decision=decision).values_list("category", flat=True).first()
    return detail or lender_selectors.rejection_classify(decision.reason)


def decision_notice_html(decision: Decision) -> SafeString:
    """The lender's adverse action notice, sanitized (nh3), ready to render; empty when none."""
    html = DecisionReason.objects.filter(decision=decision).values_list("notice_html", flat=True).first() or ""
    return mark_safe(sanitized_notice(html))  # noqa: S308 - sanitized by nh3 just above


def journeys_by_status(*, since: datetime) -> dict[str, int]:
    """How many journeys are in each status among those that changed since `since` (the metrics'
    scrape), in one statement. Naming every status lets PostgreSQL read the (status, updated_at)
    index as one range per status, so the cost follows the recent journeys, not the whole table."""
    counted = dict(
        Lead.objects.filter(status__in=LeadStatus.values, updated_at__gte=since)
        .order_by().values_list("status").annotate(count=Count("id"))
    )
    return {status: counted.get(status, 0) for status in LeadStatus.values}


def journey_personal_values(context: dict[str, str]) -> list[str]:
    """The personal values of the journey a log context names (its lead id): what an error report
    about it must mask (prosperas/telemetry.py; registered in apps/leads/apps.py)."""
    from apps.leads.engine.requests import lead_personal_values

    lead_id = context.get("lead_id", "")
    lead = Lead.objects.filter(pk=int(lead_id)).first() if lead_id.isdigit() else None
    return lead_personal_values(lead) if lead is not None else []
