"""Reads of a journey for the hosted flow: which lead a token names, its offers, its next step.

The step a lead belongs on is derived from its status alone, so a reload, the back button or an
old tab can always be sent to the one page that fits the journey now (`journey_step`).
"""

from __future__ import annotations

from apps.leads.models import Decision, Lead, LeadStatus, Offer


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
