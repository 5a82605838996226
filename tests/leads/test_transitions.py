"""The postback transition table (apps/leads/transitions.py): declared once, and the SQL
conditions derived from it agree with it for every lead status, incoming status and clock."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.leads.models import LeadStatus
from apps.leads.transitions import postback_move_params, postback_move_sql, postback_transition
from apps.postbacks.models import PostbackEvent
from prosperas.sql import fetch_one


@pytest.mark.parametrize(
    ("current", "incoming", "newer", "effect"),
    [
        (LeadStatus.HANDED_OFF, LeadStatus.PRE_APPROVED, True, "applied"),
        (LeadStatus.HANDED_OFF, LeadStatus.DISBURSED, True, "applied"),
        (LeadStatus.PRE_APPROVED, LeadStatus.APPROVED, True, "applied"),
        (LeadStatus.APPROVED, LeadStatus.DISBURSED, True, "applied"),
        (LeadStatus.APPROVED, LeadStatus.PRE_APPROVED, True, "no_change"),
        (LeadStatus.DISBURSED, LeadStatus.APPROVED, False, "no_change"),
        (LeadStatus.APPROVED, LeadStatus.APPROVED, True, "no_change"),
        (LeadStatus.APPROVED, LeadStatus.REJECTED, True, "applied"),
        (LeadStatus.APPROVED, LeadStatus.REJECTED, False, "contradicts"),
        (LeadStatus.DISBURSED, LeadStatus.CANCELLED, True, "contradicts"),
        (LeadStatus.REJECTED, LeadStatus.APPROVED, True, "contradicts"),
        (LeadStatus.CANCELLED, LeadStatus.CANCELLED, True, "no_change"),
        (LeadStatus.NOT_ELIGIBLE, LeadStatus.APPROVED, True, "contradicts"),
        (LeadStatus.NOT_ELIGIBLE, LeadStatus.REJECTED, True, "applied"),
    ],
)
def test_postback_transition_table(current, incoming, newer, effect):
    assert postback_transition(current=current, incoming=incoming, newer=newer) == effect


LAST_MOVE = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("incoming", PostbackEvent.Status.values)
def test_the_sql_conditions_decide_as_the_table_for_every_status_and_clock(db, incoming):
    move = postback_move_sql(incoming)
    for current in LeadStatus.values:
        for newer in (True, False):
            occurred = LAST_MOVE + (timedelta(seconds=1) if newer else -timedelta(seconds=1))
            params = {**postback_move_params(incoming=incoming, occurred_at=occurred, now=LAST_MOVE),
                      "status": current, "at": LAST_MOVE}
            sql = (f"SELECT {move.applied}, {move.contradicts}, {move.newer} "
                   "FROM (SELECT %(status)s::text AS status, %(at)s::timestamptz AS lender_status_at) AS lead")
            applied, contradicts, was_newer = fetch_one(sql, params)
            effect = "applied" if applied else "contradicts" if contradicts else "no_change"
            assert (effect, was_newer) == (postback_transition(current=current, incoming=incoming, newer=newer),
                                           newer), (current, incoming, newer)


def test_a_lead_never_moved_by_a_postback_takes_any_event_as_newer(db):
    move = postback_move_sql("approved")
    params = postback_move_params(incoming="approved", occurred_at=LAST_MOVE, now=LAST_MOVE)
    sql = f"SELECT {move.newer} FROM (SELECT NULL::timestamptz AS lender_status_at) AS lead"
    assert fetch_one(sql, params) == (True,)
