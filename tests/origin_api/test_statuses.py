"""The origin's status machine (apps.origin_api.statuses): every row of its table, and a search
outcome that no longer changes once the deadline has passed."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.leads.models import LeadStatus
from apps.origin_api.statuses import STATUS_MEANINGS, ApiStatus, SearchFacts, api_status

START = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
DEADLINE = START + timedelta(seconds=120)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def facts(*finished: float | None, offer_at: float | None = None, failed: int = 0, started: bool = True) -> SearchFacts:
    return SearchFacts(asked=len(finished), calls_started=started, first_offer_at=None if offer_at is None else at(offer_at),
                       finished_at=tuple(None if moment is None else at(moment) for moment in finished), failed=failed)


def status(lead_status=LeadStatus.AWAITING_DECISION, search=None, now: float = 5, chosen=False) -> str:
    return api_status(lead_status=lead_status, offer_chosen=chosen, facts=search or facts(None, None),
                      deadline=DEADLINE, now=at(now))


@pytest.mark.parametrize(("lead_status", "search", "now", "expected"), [
    (LeadStatus.NEW, facts(), 1, "created"),
    (LeadStatus.AWAITING_DECISION, facts(None, None, started=False), 1, "in_progress"),
    (LeadStatus.AWAITING_DECISION, facts(None, None), 1, "finding_products"),
    (LeadStatus.DECISION_PENDING, facts(3, None), 5, "finding_products"),
    # Offers from one lender while another still decides: listed, but the search goes on...
    (LeadStatus.OFFERED, facts(3, None, offer_at=3), 5, "finding_products"),
    # ...until every lender has answered, or the deadline.
    (LeadStatus.OFFERED, facts(3, 8, offer_at=3), 9, "offers_found"),
    (LeadStatus.OFFERED, facts(3, None, offer_at=3), 121, "offers_found"),
    (LeadStatus.NOT_ELIGIBLE, facts(3, 8), 9, "no_offers"),
    (LeadStatus.DECISION_FAILED, facts(), 1, "no_offers"),  # no lender could be asked
    (LeadStatus.DECISION_FAILED, facts(3, 8, failed=1), 9, "timed_out"),  # a lender never answered
    (LeadStatus.AWAITING_DECISION, facts(None, None), 121, "timed_out"),
    (LeadStatus.DECISION_PENDING, facts(3, None), 121, "timed_out"),
])
def test_the_search_statuses(lead_status, search, now, expected):
    assert status(lead_status, search, now) == expected


@pytest.mark.parametrize(("lead_status", "chosen", "expected"), [
    (LeadStatus.OFFERED, True, "product_selected"),
    (LeadStatus.SUBMITTING, True, "product_selected"),
    (LeadStatus.SUBMISSION_FAILED, True, "product_selected"),
    (LeadStatus.SUBMITTED, True, "submitted"),
    (LeadStatus.HANDED_OFF, True, "handed_off"),
    *((status, True, status.value) for status in (LeadStatus.PRE_APPROVED, LeadStatus.APPROVED, LeadStatus.DISBURSED,
                                                  LeadStatus.REJECTED, LeadStatus.CANCELLED)),
])
def test_after_the_search_the_journey_says_where_the_lead_is(lead_status, chosen, expected):
    assert status(lead_status, facts(3, offer_at=3), 10, chosen) == expected


def test_an_answer_after_the_deadline_does_not_change_a_timed_out_search():
    before = status(LeadStatus.DECISION_PENDING, facts(3, None), now=125)
    late_offers = status(LeadStatus.OFFERED, facts(3, 130, offer_at=130), now=131)
    late_no = status(LeadStatus.NOT_ELIGIBLE, facts(3, 130), now=131)

    assert before == late_offers == late_no == "timed_out"


def test_every_status_of_every_lead_status_is_documented():
    reachable = {status(lead_status, facts(3, None, offer_at=3), now, chosen)
                 for lead_status in LeadStatus for now in (5, 125) for chosen in (False, True)}
    assert reachable <= set(STATUS_MEANINGS) and set(STATUS_MEANINGS) == set(ApiStatus)
