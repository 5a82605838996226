"""The postback transition table (DESIGN.md §5), declared once, and the SQL derived from it.

A lender's postback status moves a lead up the ladder pre_approved → approved → disbursed;
rejected and cancelled end it. Events that arrive out of order never move a lead backwards, and
an event that contradicts the lead's state is kept and flagged for staff. `postback_transition`
reads the declaration below; the SQL conditions that apply it in a statement
(`postback_move_sql`) are computed from `postback_transition` itself, status by status, so the
rule is never restated. The statements that run them are in apps/leads/rows.py.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from apps.leads.models import LeadStatus
from prosperas.sql import datetime_param

# Postback statuses in the order a credit moves through them; rejected and cancelled end it.
POSTBACK_RANK = {
    LeadStatus.PRE_APPROVED: 1,
    LeadStatus.APPROVED: 2,
    LeadStatus.DISBURSED: 3,
}
TERMINAL = {LeadStatus.REJECTED, LeadStatus.CANCELLED}
# The lender's own decision said no: a later approval contradicts it and goes to staff.
DECLINED_IN_FLOW = {LeadStatus.NOT_ELIGIBLE}

APPLIED, NO_CHANGE, CONTRADICTS = "applied", "no_change", "contradicts"


def postback_transition(*, current: str, incoming: str, newer: bool) -> str:
    """The transition table: 'applied', 'no_change' or 'contradicts' for a postback status.

    `newer` says whether the event occurred after the last one that moved the lead (NEWER_SQL);
    events that arrive out of order never move a lead backwards.
    """
    if current == incoming:
        return NO_CHANGE
    if current in TERMINAL:
        return CONTRADICTS
    if incoming in TERMINAL:
        if current == LeadStatus.DISBURSED:
            return CONTRADICTS
        return APPLIED if newer else CONTRADICTS
    if current in DECLINED_IN_FLOW:
        return CONTRADICTS
    current_rank = POSTBACK_RANK.get(current, 0)
    return APPLIED if POSTBACK_RANK[incoming] > current_rank else NO_CHANGE


# Whether a postback occurred no earlier than the lead's last move by a postback (`newer`).
NEWER_SQL = "(lender_status_at IS NULL OR lender_status_at <= %(occurred)s)"


@functools.cache
def _transition_statuses(incoming: str, effect: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The lead statuses from which `incoming` has `effect`: when the event is newer, when older."""
    return tuple(tuple(status for status in LeadStatus.values
                       if postback_transition(current=status, incoming=incoming, newer=newer) == effect)
                 for newer in (True, False))


def _transition_condition(incoming: str, effect: str) -> str:
    """The transition table for `incoming`, as an SQL condition on a lead row (its status and
    lender_status_at) true when it has `effect`: postback_transition stays the one source of the
    rules. The statuses are written in as literals: they are LeadStatus's own values (checked to
    be plain words), never a request's."""

    def among(statuses: tuple[str, ...]) -> str:
        if not all(re.fullmatch(r"[a-z_]+", status) for status in statuses):
            raise ValueError(f"lead statuses must be plain words to be written into SQL: {statuses}")
        return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")" if statuses else "false"

    when_newer, when_older = _transition_statuses(incoming, effect)
    if when_newer == when_older:  # the clock does not matter for this status
        return f"({among(when_newer)})"
    return f"(({among(when_newer)} AND {NEWER_SQL}) OR ({among(when_older)} AND NOT {NEWER_SQL}))"


@dataclass(frozen=True)
class PostbackMoveSQL:
    """A lead's move by one postback status, as SQL pieces with named parameters `incoming`,
    `occurred`, `now` and `review` (postback_move_params), run by apps/leads/rows.py."""

    # Conditions on a lead row as it is before the move (unqualified status, lender_status_at):
    applied: str  # the event moves the lead
    contradicts: str  # the event contradicts the lead's state (flag it for review)
    newer: str  # the event occurred no earlier than the lead's last move by a postback

    def assignments(self, *, applied: str, contradicts: str, newer: str) -> str:
        """The UPDATE's SET list, given SQL that yields each condition for the row being updated
        (the conditions themselves, or columns computed from the same row)."""
        return (
            f"status = CASE WHEN {applied} THEN %(incoming)s ELSE status END, "
            # The clock only moves forward, even when an older event moves the lead up the ladder.
            f"lender_status_at = CASE WHEN {applied} AND {newer} THEN %(occurred)s ELSE lender_status_at END, "
            f"updated_at = CASE WHEN {applied} THEN %(now)s ELSE updated_at END, "
            f"needs_review = CASE WHEN {contradicts} THEN %(review)s ELSE needs_review END"
        )


@functools.cache
def postback_move_sql(incoming: str) -> PostbackMoveSQL:
    """The move for `incoming`, built once per status, with a handful of named parameters, so
    PostgreSQL keeps it prepared."""
    return PostbackMoveSQL(applied=_transition_condition(incoming, APPLIED),
                           contradicts=_transition_condition(incoming, CONTRADICTS), newer=NEWER_SQL)


def postback_move_params(*, incoming: str, occurred_at, now) -> dict:
    """The parameters of postback_move_sql's pieces. A lead moved sets its updated_at to `now`
    exactly: that is how a statement tells a move from a row left as it was."""
    return {"incoming": incoming, "occurred": datetime_param(occurred_at), "now": datetime_param(now),
            "review": True}


@dataclass(frozen=True)
class PostbackMove:
    lead_id: int
    effect: str  # APPLIED, NO_CHANGE or CONTRADICTS (postback_transition)
    status: str  # the lead's status after the event
    status_before: str = ""  # its status before (lead_postback_preview)
