"""The postback endpoint's writes to the event table, in SQL.

Every accepted postback runs these few statements. Through the ORM each would cost several
times the database's own time in building the query (bench/postbacks.py measured the endpoint
at a sixth of a bare view's throughput that way), so they are written once here, with the
models' own table and column names and the fields' own conversions (`get_db_prep_save`): the
same values reach the database as through the ORM (helpers in prosperas/sql.py). Everything
else in the app uses the ORM. The statements of other apps' tables come from those apps: the
lead's move from apps.leads.rows, the lender's write guard from apps.lenders.signed_requests.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from apps.leads.rows import lead_postback_move_ctes
from apps.lenders.models import Lender
from apps.lenders.signed_requests import lender_unchanged_condition, lender_unchanged_params
from apps.postbacks.models import PostbackEvent
from prosperas.sql import columns, fetch_one

# --- Events --------------------------------------------------------------------------------------


def _repeat_exists(lead: str | None) -> str:
    """SQL true when an earlier event is of the same lead (`lead`: SQL for its id), or, unmatched
    (None), of the same lender and click_id, with the same status or the same event_id (a blank
    one is passed as NULL, which equals nothing). Parameters: lender_id, click_id, status, event_id."""
    same = "(earlier.status = %(status)s OR earlier.event_id = %(event_id)s)"
    of = (f"earlier.lead_id = {lead}" if lead is not None else
          "earlier.lender_id = %(lender_id)s AND earlier.lead_id IS NULL AND earlier.click_id = %(click_id)s")
    return f"EXISTS (SELECT 1 FROM {PostbackEvent._meta.db_table} AS earlier WHERE {of} AND {same})"


def _repeat_params(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"lender_id": event["lender_id"], "lead_id": event.get("lead_id"), "click_id": event["click_id"],
            "status": event["status"], "event_id": event["event_id"] or None}


def _lead_sql(event: Mapping[str, Any]) -> str | None:
    return None if event.get("lead_id") is None else "%(lead_id)s"


def event_exists_like(event: Mapping[str, Any]) -> bool:
    """Whether an event with these values (lender_id, lead_id, click_id, status, event_id) would
    be recorded as a repeat now."""
    return bool(fetch_one(f"SELECT {_repeat_exists(_lead_sql(event))}", _repeat_params(event))[0])


def event_insert(event: Mapping[str, Any]) -> tuple[int, bool] | None:
    """INSERT an event from its values by attname (every concrete field but id and is_repeat),
    converted as the ORM converts them, with is_repeat decided by the same statement: run after
    the lead's lock is taken, it sees the events of whoever held the lock before (PostgreSQL gives
    each statement its own snapshot). Returns (id, is_repeat), or None when the lender already
    used its nonce (a replay: nothing inserted)."""
    params = {**_values_params(event, _preparers(_inserted_fields)), **_repeat_params(event)}
    row = fetch_one(_event_insert_sql(_lead_sql(event)), params)
    return None if row is None else (row[0], bool(row[1]))


@functools.cache
def _inserted_fields() -> tuple:
    left_out = {"id", "is_repeat", *PostbackEvent.FOLLOW_UP_STATE_FIELDS}
    return tuple(field for field in PostbackEvent._meta.concrete_fields if field.name not in left_out)


@functools.cache
def _event_insert_sql(lead: str | None) -> str:
    fields = _inserted_fields()
    # ON CONFLICT names the partial unique index postback_event_nonce_once_per_lender by its
    # columns and its condition, written as Django writes it.
    return (f"INSERT INTO {PostbackEvent._meta.db_table} ({columns(fields)}, is_repeat) "
            f"VALUES ({', '.join(f'%(p{index})s' for index in range(len(fields)))}, {_repeat_exists(lead)}) "
            "ON CONFLICT (lender_id, nonce) WHERE NOT (nonce = '') DO NOTHING RETURNING id, is_repeat")


def _values_params(event: Mapping[str, Any], preparers: list[tuple[str, Any]]) -> dict[str, Any]:
    """The parameters p0, p1, ... of the values in `event` of the fields `preparers` convert."""
    return {f"p{index}": prepare(event[attname]) for index, (attname, prepare) in enumerate(preparers)}


@functools.cache
def _preparers(fields_of_statement) -> list[tuple[str, Any]]:
    """(attname, conversion to the database value) per field of a statement (`fields_of_statement`
    returns them; cached by that function, so no call hashes the fields): the field's
    get_db_prep_save, which a text field's plain str values pass unchanged, so they skip it."""

    def preparer(field):
        def prepare(value):
            return field.get_db_prep_save(value, connection)

        if field.get_internal_type() in TEXT_TYPES:
            return lambda value: value if type(value) is str else prepare(value)
        return prepare

    return [(field.attname, preparer(field)) for field in fields_of_statement()]


TEXT_TYPES = ("CharField", "TextField")


# --- The whole ingest as one statement ----------------------------------------------------------

# What the single-statement ingest tells apart when it records nothing.
STALE = "stale"  # the lead changed between the statement's snapshot and its lock: run it again
REPLAYED = "replayed"  # the lender already used this nonce
LENDER_CHANGED = "lender_changed"  # the lender's credentials are no longer the ones authenticated with
NONCE_CONSTRAINT = "postback_event_nonce_once_per_lender"


@dataclass(frozen=True)
class Recorded:
    event_pk: int
    is_repeat: bool
    effect: str
    lead_id: int | None
    lead_status: str | None  # the lead's status after the event; None when unmatched


def event_record_moving_lead(event: Mapping[str, Any], *, move_params: dict,
                             lender_stored: tuple[str, ...] | None = None) -> Recorded | str:
    """Move the lead whose tracking ID is the event's click_id (of its lender) and record the
    event (its values by attname, but lead_id, effect, followed_up_at and is_repeat) against it,
    or unmatched when there is none, in one statement: one round trip, atomic without a
    transaction block, prepared once per connection. `move_params` are the parameters of the
    leads app's move (apps.leads.rows.lead_postback_params).

    The statement is composed of the leads app's move by the event's status (its CTEs `seen` and
    `moved`, apps.leads.rows.lead_postback_move_ctes: this module writes nothing of the leads
    table itself), the lender's write guard, and the event's INSERT, kept as one statement because
    the benchmark needs the single round trip. The leads app reads the lead in the statement's
    snapshot (`seen`), then updates that row only if it is still the version it read: when another
    postback of the same lead committed in between, the row is skipped and nothing is recorded
    (STALE), since the snapshot would miss that event when deciding is_repeat; the caller runs it
    again. A nonce the
    lender already used fails the insert's unique index, which undoes the move too (REPLAYED).
    With `lender_stored` (the request was authenticated on a kept copy of the lender), nothing is
    written unless the lender's credential columns still hold those values (LENDER_CHANGED).
    """
    params = {**_values_params(event, _preparers(_recorded_fields)), **_repeat_params(event), **move_params}
    if lender_stored is not None:
        params.update(lender_unchanged_params(lender_stored))
    sql = _record_sql(event["status"], guarded=lender_stored is not None)
    try:
        # Inside a transaction (tests, callers' atomic blocks) a failed statement would abort it:
        # a savepoint keeps a replay's error to this statement. In autocommit it is not needed.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            row = fetch_one(sql, params)
    except IntegrityError as error:
        if getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) == NONCE_CONSTRAINT:
            return REPLAYED
        raise
    *recorded, lender_unchanged = row
    if recorded[0] is None:
        return STALE if lender_unchanged else LENDER_CHANGED
    return Recorded(*recorded)


@functools.cache
def _recorded_fields() -> tuple:
    """The event's columns bound as parameters; lead, effect, followed_up_at and is_repeat are
    decided by the statement, and the follow-up runner's own columns keep their defaults."""
    decided = {"id", "lead", "effect", "followed_up_at", "is_repeat", *PostbackEvent.FOLLOW_UP_STATE_FIELDS}
    return tuple(field for field in PostbackEvent._meta.concrete_fields if field.name not in decided)


@functools.cache
def _record_sql(incoming: str, *, guarded: bool) -> str:
    lender_table = Lender._meta.db_table
    # One row while the lender is as authenticated (always, unguarded); none once it changed.
    lender_unchanged = f"SELECT 1 FROM {lender_table} WHERE {lender_unchanged_condition()}" if guarded else "SELECT 1"
    return (
        f"WITH lender_unchanged AS ({lender_unchanged}), "
        f"{lead_postback_move_ctes(incoming, guard='lender_unchanged')}, "
        f"inserted AS ({_record_insert_sql()}) "
        # Always one row: the event recorded (or nulls) and whether the lender was unchanged.
        "SELECT inserted.id, inserted.is_repeat, inserted.effect, inserted.lead_id, moved.status, "
        "EXISTS (SELECT 1 FROM lender_unchanged) "
        "FROM (SELECT 1) AS one LEFT JOIN inserted ON true LEFT JOIN moved ON true"
    )


def _record_insert_sql() -> str:
    """_record_sql's INSERT: the event, against the lead `moved` (if any) and by what the move did."""
    fields, effect = _recorded_fields(), PostbackEvent.Effect
    # Text parameters take their column's type; the others are cast, as INSERT ... SELECT does not
    # infer them from the columns (a NULL amount would be text).
    values = ", ".join(f"%(p{index})s" if field.get_internal_type() in TEXT_TYPES
                       else f"CAST(%(p{index})s AS {field.cast_db_type(connection)})"
                       for index, field in enumerate(fields))
    return (
        f"INSERT INTO {PostbackEvent._meta.db_table} ({columns(fields)}, lead_id, effect, followed_up_at, is_repeat) "
        f"SELECT {values}, moved.id, "
        f"CASE WHEN moved.id IS NULL THEN '{effect.UNMATCHED}' WHEN moved.applied THEN '{effect.APPLIED}' "
        f"WHEN moved.contradicts THEN '{effect.CONTRADICTS}' ELSE '{effect.NO_CHANGE}' END, "
        # Only a move sets something off: the others are recorded as already followed up.
        "CASE WHEN moved.applied THEN NULL ELSE %(now)s END, "
        f"CASE WHEN moved.id IS NULL THEN {_repeat_exists(None)} ELSE {_repeat_exists('moved.id')} END "
        "FROM lender_unchanged LEFT JOIN seen ON true LEFT JOIN moved ON true "
        # Unmatched (no lead seen), or the lead seen was moved; else the lead changed meanwhile.
        "WHERE seen.id IS NULL OR moved.id IS NOT NULL "
        "RETURNING id, is_repeat, effect, lead_id"
    )
