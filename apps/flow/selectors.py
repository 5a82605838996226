"""Reads for the flow's pages beyond apps.leads.selectors: the journey a browser's session would
continue, and for the compare-mode pages every lender's offers side by side, and who is still
answering.

Compare mode costs two queries whatever the number of lenders and offers: one for the asks with
their lenders and decisions' outcomes, one for the approved offers with their lender and terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from apps.leads.models import Decision, Lead, Offer
from apps.lenders.adapters.base import AmountGroup
from apps.leads.models import DecisionRequest
from apps.leads.selectors import offer_amount_group
from apps.origins.models import Origin

# How the consumer may order the offers: the monthly payment, the annual rate, the total paid.
COMPARE_SORTS = {
    "payment": (_("Cuota mensual"), lambda item: (item.offer.monthly_payment, item.offer.annual_rate)),
    "rate": (_("Tasa"), lambda item: (item.offer.annual_rate, item.offer.monthly_payment)),
    "total": (_("Costo total"), lambda item: (item.total_cost, item.offer.annual_rate)),
}
DEFAULT_SORT = "payment"
GROUP_TITLES = {
    AmountGroup.REQUESTED: _("Por el monto que pediste"),
    AmountGroup.HIGHER: _("Por un monto mayor"),
    AmountGroup.LOWER: _("Por un monto menor"),
}


# What the catalog and a new choice read of the session's journey: where it is (its status and
# step), its mode and its lender's name. Nothing personal, so nothing is decrypted, and nine
# columns instead of journey_get's hundred-odd (the catalog and start pages pay for this lookup on
# every visit).
CURRENT_JOURNEY_FIELDS = (
    "id", "public_token", "origin_id", "status", "compare_mode", "chosen_offer_id", "lender_id", "lender__name",
)


def journey_current(*, public_token: str, origin: Origin) -> Lead | None:
    """The journey a session names at this origin (another origin's token names none). Any other
    field would load on first use, one query each."""
    try:
        return Lead.objects.select_related("lender").only(*CURRENT_JOURNEY_FIELDS).get(
            public_token=public_token, origin=origin
        )
    except Lead.DoesNotExist:
        return None


@dataclass(frozen=True)
class CompareOffer:
    offer: Offer
    lender_name: str
    total_cost: Decimal  # what the consumer pays over the term: the monthly payment times the months


@dataclass(frozen=True)
class CompareGroup:
    key: str
    title: str
    offers: list[CompareOffer]


@dataclass(frozen=True)
class CompareProgress:
    asked: int
    answered: int
    waiting_on: list[str]  # names of the lenders still deciding

    @property
    def complete(self) -> bool:
        return not self.waiting_on

    @property
    def poll_state(self) -> str:
        """Changes whenever a lender answers: the waiting page's poll reloads on it."""
        return f"{self.answered}/{self.asked}"


def compare_offers(*, lead: Lead, sort: str = DEFAULT_SORT) -> list[CompareGroup]:
    """Every approving lender's offers, grouped by amount (requested, higher, lower than the amount
    asked for) and each group ordered by `sort` (COMPARE_SORTS)."""
    key = COMPARE_SORTS.get(sort, COMPARE_SORTS[DEFAULT_SORT])[1]
    offers = (
        Offer.objects.filter(decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED)
        .select_related("decision__lender", "terms")
    )
    grouped: dict[str, list[CompareOffer]] = {group: [] for group in GROUP_TITLES}
    for offer in offers:
        item = CompareOffer(offer=offer, lender_name=offer.decision.lender.name,
                            total_cost=offer.monthly_payment * offer.term_months)
        grouped.setdefault(offer_amount_group(offer, lead.requested_amount), []).append(item)
    return [CompareGroup(key=group, title=str(GROUP_TITLES.get(group, group)), offers=sorted(items, key=key))
            for group, items in grouped.items() if items]


def compare_progress(*, lead: Lead) -> CompareProgress:
    """How many asked lenders have answered (a final decision or a failed ask) and who is left."""
    finals = set(
        Decision.objects.filter(lead=lead).exclude(outcome=Decision.Outcome.PENDING).values_list("lender_id", flat=True)
    )
    asks = DecisionRequest.objects.filter(lead=lead).values_list("lender_id", "lender__name", "state")
    waiting_on, answered, asked = [], 0, 0
    for lender_id, name, state in asks:
        asked += 1
        if lender_id in finals or state == DecisionRequest.State.FAILED:
            answered += 1
        else:
            waiting_on.append(name)
    return CompareProgress(asked=asked, answered=answered, waiting_on=sorted(waiting_on))
