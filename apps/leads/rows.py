"""The hot statements that write the leads table for postbacks, in SQL (bench/postbacks.py: they
run on every postback). Each applies the transition table through the conditions derived from
it (apps.leads.transitions.postback_move_sql), with the model's own table and column names.

- lead_postback_apply: one UPDATE that locks, decides and moves (or flags) a lead.
- lead_postback_move_ctes: the same move as two CTEs, for the postbacks app to compose into its
  one-statement ingest (the lead's move and the event's insert in one round trip).
- lead_postback_preview: the same decision, read-only (the postback tester).
"""

from __future__ import annotations

import functools
from datetime import datetime

from django.utils import timezone

from apps.leads.models import Lead
from apps.leads.transitions import (
    APPLIED,
    CONTRADICTS,
    NO_CHANGE,
    PostbackMove,
    postback_move_params,
    postback_move_sql,
    postback_transition,
)
from prosperas.sql import fetch_one

LEAD_OF_LENDER = "lender_id = %(lender_id)s AND tracking_id = %(tracking_id)s"


def lead_postback_params(*, lender_id: int, tracking_id: str, incoming: str, occurred_at: datetime,
                         now: datetime) -> dict:
    """The parameters of every statement here: which lead (exactly this tracking ID of this
    lender: DESIGN.md §3) and the move's (postback_move_params)."""
    return {**postback_move_params(incoming=incoming, occurred_at=occurred_at, now=now),
            "lender_id": lender_id, "tracking_id": tracking_id}


def lead_postback_apply(*, lender_id: int, tracking_id: str, incoming: str, occurred_at) -> PostbackMove | None:
    """Move the lead with exactly this tracking ID by a lender's postback, following the
    transition table; None when no lead of that lender has it.

    One UPDATE does it all: it takes the lead's row lock (held until the caller's transaction
    ends, so two postbacks of one lead are recorded one after the other), decides by the
    transition table written out as SQL for `incoming` (postback_move_sql) on the row as it is
    once locked, moves the lead or flags it for review, and answers what it did. The lender's
    request so reads no model and decrypts nothing. The email and the campaign's result charge
    that follow a move are done off the request (apps.leads.services.lead_postback_follow_up).
    """
    params = lead_postback_params(lender_id=lender_id, tracking_id=tracking_id, incoming=incoming,
                                  occurred_at=occurred_at, now=timezone.now())
    row = fetch_one(_apply_sql(incoming), params)
    if row is None:
        return None
    lead_id, status, moved, was_newer = row
    effect = APPLIED if moved else postback_transition(current=status, incoming=incoming, newer=bool(was_newer))
    return PostbackMove(lead_id=lead_id, effect=effect, status=status)


@functools.cache
def _apply_sql(incoming: str) -> str:
    move = postback_move_sql(incoming)
    # Every SET expression reads the row as it was before the statement (SQL's rule). RETURNING
    # reads it after, unchanged unless moved: so its status and clock are the ones the table was
    # read with whenever the lead did not move.
    assignments = move.assignments(applied=move.applied, contradicts=move.contradicts, newer=move.newer)
    return (f"UPDATE {Lead._meta.db_table} SET {assignments} WHERE {LEAD_OF_LENDER} "
            f"RETURNING id, status, updated_at = %(now)s, {move.newer}")


def lead_postback_preview(*, lender_id: int, tracking_id: str, incoming: str, occurred_at) -> PostbackMove | None:
    """What lead_postback_apply would do now, writing nothing and locking nothing: the same
    conditions evaluated on the lead as it is. None when no lead of that lender has it."""
    params = lead_postback_params(lender_id=lender_id, tracking_id=tracking_id, incoming=incoming,
                                  occurred_at=occurred_at, now=timezone.now())
    row = fetch_one(_preview_sql(incoming), params)
    if row is None:
        return None
    lead_id, status, applied, contradicts = row
    effect = APPLIED if applied else CONTRADICTS if contradicts else NO_CHANGE
    return PostbackMove(lead_id=lead_id, effect=effect, status=incoming if applied else status,
                        status_before=status)


@functools.cache
def _preview_sql(incoming: str) -> str:
    move = postback_move_sql(incoming)
    return (f"SELECT id, status, {move.applied}, {move.contradicts} FROM {Lead._meta.db_table} "
            f"WHERE {LEAD_OF_LENDER}")


@functools.cache
def lead_postback_move_ctes(incoming: str, *, guard: str) -> str:
    """The move by `incoming` as two CTEs, for a data-modifying WITH statement that the caller
    (apps.postbacks.rows) composes with its own parts; parameters: lead_postback_params.

    - `seen(id, xmin, applied, contradicts, newer)`: the lead in the statement's snapshot, with
      the transition table's decision for it;
    - `moved(id, status, applied, contradicts)`: the UPDATE applying that decision, only to that
      very row version (xmin, PostgreSQL's row version) and only when the caller's CTE `guard`
      has a row. When another statement changed the lead since the snapshot, `moved` is empty
      while `seen` is not: the caller must not act on a decision taken on a stale row.

    The decision is taken on the row as `seen`, so it holds for the row version it writes.
    """
    move = postback_move_sql(incoming)
    table = Lead._meta.db_table
    assignments = move.assignments(applied="seen.applied", contradicts="seen.contradicts", newer="seen.newer")
    return (
        f"seen AS (SELECT id, xmin, {move.applied} AS applied, {move.contradicts} AS contradicts, "
        f"{move.newer} AS newer FROM {table} WHERE {LEAD_OF_LENDER}), "
        f"moved AS (UPDATE {table} SET {assignments} FROM seen JOIN {guard} ON true "
        f"WHERE {table}.id = seen.id AND {table}.xmin = seen.xmin "
        f"RETURNING {table}.id, {table}.status, seen.applied, seen.contradicts)"
    )
