"""An origin's lead status (seed 002's status machine), derived from the journey it runs as.

The API lead is a compare-mode journey (apps.leads): every eligible lender is asked at once and
each decision is stored as it arrives. What the origin reads is worked out from that journey's
LeadStatus, its asks and decisions, and the search's deadline (settings
ORIGIN_API_SEARCH_TIMEOUT_SECONDS), with nothing stored of its own:

| API status | the journey |
| --- | --- |
| `created` | `new`: accepted, its lenders not asked yet |
| `in_progress` | lenders asked (`awaiting_decision`), no call to any of them started yet |
| `finding_products` | calls started (`awaiting_decision`, `decision_pending`), or `offered` while other lenders have still to answer, before the deadline |
| `offers_found` | some lender approved with offers before the deadline, and every asked lender has answered or the deadline has passed |
| `no_offers` | every asked lender said no before the deadline (`not_eligible`), or no lender could be asked (no campaign could take the lead) |
| `timed_out` | no offers by the deadline, and some lender had not answered by then or could not be reached (`decision_failed`) |
| `product_selected` | an offer was chosen (`offered` with a chosen offer, `submitting`, `submission_failed`) |
| `submitted` | `submitted`: the lender accepted the application |
| `handed_off` | `handed_off`: the consumer was sent to the lender |
| `pre_approved`, `approved`, `disbursed`, `rejected`, `cancelled` | the same, from the lender's postbacks |

A search outcome depends only on what was stored by the deadline, so once the deadline has passed
it never changes: an answer arriving later does not turn `timed_out` into `offers_found`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from apps.leads.models import LeadStatus


class ApiStatus(enum.StrEnum):
    CREATED = "created"
    IN_PROGRESS = "in_progress"
    FINDING_PRODUCTS = "finding_products"
    OFFERS_FOUND = "offers_found"
    NO_OFFERS = "no_offers"
    TIMED_OUT = "timed_out"
    PRODUCT_SELECTED = "product_selected"
    SUBMITTED = "submitted"
    HANDED_OFF = "handed_off"
    PRE_APPROVED = "pre_approved"
    APPROVED = "approved"
    DISBURSED = "disbursed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


API_STATUSES = [status.value for status in ApiStatus]

# Journey statuses past the search: each reads as one API status whatever the asks say.
AFTER_SEARCH = {
    LeadStatus.SUBMITTING: ApiStatus.PRODUCT_SELECTED,
    LeadStatus.SUBMISSION_FAILED: ApiStatus.PRODUCT_SELECTED,
    LeadStatus.SUBMITTED: ApiStatus.SUBMITTED,
    LeadStatus.HANDED_OFF: ApiStatus.HANDED_OFF,
    LeadStatus.PRE_APPROVED: ApiStatus.PRE_APPROVED,
    LeadStatus.APPROVED: ApiStatus.APPROVED,
    LeadStatus.DISBURSED: ApiStatus.DISBURSED,
    LeadStatus.REJECTED: ApiStatus.REJECTED,
    LeadStatus.CANCELLED: ApiStatus.CANCELLED,
}
# The statuses in which the search is still running: an origin keeps polling (or waits for its callback).
SEARCHING = frozenset({ApiStatus.CREATED, ApiStatus.IN_PROGRESS, ApiStatus.FINDING_PRODUCTS})


@dataclass(frozen=True)
class SearchFacts:
    """What the journey's asks and decisions say, with when each answer was stored."""

    asked: int  # lenders asked
    calls_started: bool  # a call to some lender has started (or some answer is stored)
    first_offer_at: datetime | None  # when the first approval with offers was stored
    # When each asked lender's final answer (a decision other than pending, or a failed ask) was
    # stored; None for a lender still deciding.
    finished_at: tuple[datetime | None, ...]
    failed: int  # asks that ended without an answer (technical failure, no answer in time)


def api_status(*, lead_status: str, offer_chosen: bool, facts: SearchFacts, deadline: datetime,
               now: datetime) -> ApiStatus:
    """The origin's status of a lead (the table above)."""
    if lead_status in AFTER_SEARCH:
        return AFTER_SEARCH[LeadStatus(lead_status)]
    if lead_status == LeadStatus.OFFERED and offer_chosen:
        return ApiStatus.PRODUCT_SELECTED
    if lead_status == LeadStatus.NEW:
        return ApiStatus.CREATED
    return _search_status(facts, deadline=deadline, now=now)


def _search_status(facts: SearchFacts, *, deadline: datetime, now: datetime) -> ApiStatus:
    finished_by_deadline = all(moment is not None and moment <= deadline for moment in facts.finished_at)
    if facts.first_offer_at is not None and facts.first_offer_at <= deadline:
        return ApiStatus.OFFERS_FOUND if finished_by_deadline or now >= deadline else ApiStatus.FINDING_PRODUCTS
    if finished_by_deadline and facts.first_offer_at is None:
        if facts.asked == 0 or not facts.failed:
            return ApiStatus.NO_OFFERS
        return ApiStatus.TIMED_OUT
    if now >= deadline:
        return ApiStatus.TIMED_OUT
    return ApiStatus.FINDING_PRODUCTS if facts.calls_started else ApiStatus.IN_PROGRESS


# What each status means for an origin, for its guide (apps/origin_api/docs.py), in the machine's order.
STATUS_MEANINGS = {
    ApiStatus.CREATED: "Accepted; its lenders are about to be asked.",
    ApiStatus.IN_PROGRESS: "Lenders asked; no call to them has started yet.",
    ApiStatus.FINDING_PRODUCTS: "Lenders are deciding. Offers already received are listed; keep polling.",
    ApiStatus.OFFERS_FOUND: "Final: offers grouped by amount (every lender answered, or the deadline passed).",
    ApiStatus.NO_OFFERS: "Final: no lender made an offer; `reasons` says why per lender, with its adverse "
    "action notice when it sent one. An empty list means no lender could take the lead.",
    ApiStatus.TIMED_OUT: "Final: no offers by the deadline and some lender did not answer in time; you may submit "
    "again later under a new partnerLeadId.",
    ApiStatus.PRODUCT_SELECTED: "The borrower chose an offer; the application is on its way to the lender.",
    ApiStatus.SUBMITTED: "The lender accepted the application.",
    ApiStatus.HANDED_OFF: "The borrower was sent to the lender to finish.",
    ApiStatus.PRE_APPROVED: "Reported by the lender: pre-approved.",
    ApiStatus.APPROVED: "Reported by the lender: approved.",
    ApiStatus.DISBURSED: "Reported by the lender: the money was disbursed.",
    ApiStatus.REJECTED: "Reported by the lender: rejected after the hand-off.",
    ApiStatus.CANCELLED: "Reported by the lender: cancelled.",
}
