"""The postback endpoint's reads and writes, in SQL.

Every accepted postback runs these few statements. Through the ORM each would cost several
times the database's own time in building the query (bench/postbacks.py measured the endpoint
at a sixth of a bare view's throughput that way), so they are written once here, with the
models' own table and column names and the fields' own conversions (`from_db_value`,
`get_db_prep_save`): the same values reach the database as through the ORM, on PostgreSQL and
on SQLite (`make run`) alike (helpers in prosperas/sql.py). Everything else in the app uses the ORM.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from apps.leads.models import Lead
from apps.lenders.models import Lender
from apps.postbacks.models import PostbackEvent, PostbackNonce
from prosperas.sql import columns, datetime_param, fetch_one, fields_of, instance_from_row

# What authentication reads of a lender: who it is, and the columns it decides by (all text, the
# secrets as stored: encrypted). Its encrypted adapter credentials are never decrypted.
LENDER_IDENTITY_FIELDS = ("id", "code")
LENDER_CREDENTIAL_FIELDS = ("environment", "postback_auth", "postback_key", "postback_secret",
                            "postback_secret_previous", "postback_api_key_digest", "postback_ip_allowlist")
LENDER_AUTH_FIELDS = LENDER_IDENTITY_FIELDS + LENDER_CREDENTIAL_FIELDS

# Each web process keeps the lenders it authenticated for this long. An event is recorded on a
# kept copy only while the lender's credential columns in the database still hold what was read
# (the write guard: lender_unchanged_condition), and a request refused on a kept copy is decided
# again on the lender as stored now (services.postback_authenticate): a change by staff (a new
# secret, a rotation, the allowlist, the mode) applies to the next request, in every process.
LENDER_CACHE_SECONDS = 60.0
LENDER_CACHE_SIZE = 1000


@dataclass(frozen=True)
class LenderAsRead:
    """A lender as authentication read it, with LENDER_AUTH_FIELDS loaded (the others load on
    access, as with the ORM's only()), and its credential columns as they were stored then."""

    lender: Lender
    stored: tuple[str, ...]
    cached: bool  # read by an earlier request of this process (lender_for_authentication)


@dataclass(frozen=True)
class _Kept:
    expires: float
    values: tuple  # LENDER_AUTH_FIELDS' values as loaded (decrypted), in model field order
    stored: tuple[str, ...]


_lenders_read: dict[tuple, _Kept] = {}


def lender_for_authentication(*, column: str, value: str, api_key_only: bool = False,
                              fresh: bool = False) -> LenderAsRead | None:
    """The lender whose `column` (postback_key or postback_api_key_digest) is `value`: built from
    this process's recent copy when it has one, unless `fresh`, else read now (and kept). Every
    caller gets an instance of its own."""
    key = (connection.alias, column, value, api_key_only)
    kept = None if fresh else _lenders_read.get(key)
    if kept is None or kept.expires <= time.monotonic():
        return _lender_read(key)
    return LenderAsRead(lender=Lender.from_db(connection.alias, _auth_attnames(), kept.values), stored=kept.stored,
                        cached=True)


def _lender_read(key: tuple) -> LenderAsRead | None:
    """Read the lender of `key` (lender_for_authentication's) now, and keep it."""
    _alias, column, value, api_key_only = key
    params: list[Any] = [value, Lender.PostbackAuth.API_KEY] if api_key_only else [value]
    row = fetch_one(_lender_sql(connection.vendor, column, api_key_only), params)
    if row is None:
        _lenders_read.pop(key, None)
        return None
    loaded = instance_from_row(Lender, fields_of(Lender, LENDER_AUTH_FIELDS), row)
    stored = tuple(row[len(LENDER_IDENTITY_FIELDS):])  # selected in LENDER_AUTH_FIELDS' order
    if len(_lenders_read) >= LENDER_CACHE_SIZE:
        _lenders_read.clear()
    _lenders_read[key] = _Kept(expires=time.monotonic() + LENDER_CACHE_SECONDS, stored=stored,
                               values=tuple(getattr(loaded, name) for name in _auth_attnames()))
    return LenderAsRead(lender=loaded, stored=stored, cached=False)


@functools.cache
def _auth_attnames() -> list[str]:
    """LENDER_AUTH_FIELDS' attnames in model field order, as Model.from_db takes them."""
    return [field.attname for field in Lender._meta.concrete_fields if field.name in LENDER_AUTH_FIELDS]


@functools.cache
def _lender_sql(vendor: str, column: str, api_key_only: bool) -> str:
    where = f"{connection.ops.quote_name(column)} = %s" + (" AND postback_auth = %s" if api_key_only else "")
    return f"SELECT {columns(fields_of(Lender, LENDER_AUTH_FIELDS))} FROM {Lender._meta.db_table} WHERE {where}"


def lender_unchanged_condition() -> str:
    return _lender_unchanged_condition(connection.vendor)


@functools.cache
def _lender_unchanged_condition(vendor: str) -> str:
    """True on the lender's row while its credential columns hold `stored` (lender_unchanged_params)."""
    checks = [f"{Lender._meta.db_table}.id = %(lender_id)s"] + [
        f"{Lender._meta.db_table}.{connection.ops.quote_name(field.column)} = %(lender_stored_{index})s"
        for index, field in enumerate(fields_of(Lender, LENDER_CREDENTIAL_FIELDS))
    ]
    return " AND ".join(checks)


def lender_unchanged_params(stored: tuple[str, ...]) -> dict[str, str]:
    return {f"lender_stored_{index}": value for index, value in enumerate(stored)}


def lender_unchanged(*, lender_id: int, stored: tuple[str, ...]) -> bool:
    """Whether the lender's credential columns still hold `stored`."""
    sql = f"SELECT EXISTS (SELECT 1 FROM {Lender._meta.db_table} WHERE {lender_unchanged_condition()})"
    return bool(fetch_one(sql, {"lender_id": lender_id, **lender_unchanged_params(stored)})[0])


def nonce_spend(*, lender_id: int, nonce: str, tester: bool, seen_at: datetime) -> bool:
    """Insert the nonce unless the lender already used it (here, or with the tester's set apart):
    True when it was new. One statement that says whether it inserted: no exception to catch, and
    so no savepoint inside the caller's transaction."""
    sql = (f"INSERT INTO {PostbackNonce._meta.db_table} (lender_id, nonce, tester, seen_at) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (lender_id, tester, nonce) DO NOTHING RETURNING id")
    return fetch_one(sql, [lender_id, nonce, tester, datetime_param(seen_at)]) is not None


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
    row = fetch_one(_event_insert_sql(connection.vendor, _lead_sql(event)), params)
    return None if row is None else (row[0], bool(row[1]))


@functools.cache
def _inserted_fields() -> tuple:
    return tuple(field for field in PostbackEvent._meta.concrete_fields if field.name not in ("id", "is_repeat"))


@functools.cache
def _event_insert_sql(vendor: str, lead: str | None) -> str:
    fields = _inserted_fields()
    # ON CONFLICT names the partial unique index postback_event_nonce_once_per_lender, its condition
    # written as Django writes it (SQLite matches the index by the same expression).
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


# --- PostgreSQL: the whole ingest as one statement ----------------------------------------------

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


def single_statement_ingest() -> bool:
    """Whether this database records a postback with event_record_moving_lead (PostgreSQL: its
    data-modifying WITH, xmin and per-statement snapshots), else with lead_postback_apply and
    event_insert in a transaction (SQLite, `make run`)."""
    return connection.vendor == "postgresql"


def event_record_moving_lead(event: Mapping[str, Any], *, move_sql, move_params: dict,
                             lender_stored: tuple[str, ...] | None = None) -> Recorded | str:
    """Move the lead whose tracking ID is the event's click_id (of its lender) and record the
    event (its values by attname, but lead_id, effect, followed_up_at and is_repeat) against it,
    or unmatched when there is none, in one statement: one round trip, atomic without a
    transaction block, prepared once per connection. `move_sql`/`move_params` are the leads
    app's move for the event's status (apps.leads.services.postback_move_sql).

    The statement reads the lead in its snapshot (`seen`), then updates that row only if it is
    still the version it read (xmin, PostgreSQL's row version): when another postback of the same
    lead committed in between, the row is skipped and nothing is recorded (STALE), since the
    snapshot would miss that event when deciding is_repeat; the caller runs it again. A nonce the
    lender already used fails the insert's unique index, which undoes the move too (REPLAYED).
    With `lender_stored` (the request was authenticated on a kept copy of the lender), nothing is
    written unless the lender's credential columns still hold those values (LENDER_CHANGED).
    """
    params = {**_values_params(event, _preparers(_recorded_fields)), **_repeat_params(event), **move_params}
    if lender_stored is not None:
        params.update(lender_unchanged_params(lender_stored))
    sql = _record_sql(move_sql, guarded=lender_stored is not None)
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
    decided by the statement."""
    decided = {"id", "lead", "effect", "followed_up_at", "is_repeat"}
    return tuple(field for field in PostbackEvent._meta.concrete_fields if field.name not in decided)


@functools.cache
def _record_sql(move_sql, *, guarded: bool) -> str:
    lead_table, lender_table = Lead._meta.db_table, Lender._meta.db_table
    # One row while the lender is as authenticated (always, unguarded); none once it changed.
    lender_unchanged = f"SELECT 1 FROM {lender_table} WHERE {lender_unchanged_condition()}" if guarded else "SELECT 1"
    # The move is decided on the lead as `seen` in the statement's snapshot: the UPDATE applies it
    # only to that very row version (xmin), so the decision holds for the row it writes.
    assignments = move_sql.assignments(applied="seen.applied", contradicts="seen.contradicts", newer="seen.newer")
    return (
        f"WITH lender_unchanged AS ({lender_unchanged}), "
        f"seen AS (SELECT id, xmin, {move_sql.applied} AS applied, {move_sql.contradicts} AS contradicts, "
        f"{move_sql.newer} AS newer FROM {lead_table} "
        "WHERE lender_id = %(lender_id)s AND tracking_id = %(click_id)s), "
        f"moved AS (UPDATE {lead_table} SET {assignments} FROM seen JOIN lender_unchanged ON true "
        f"WHERE {lead_table}.id = seen.id AND {lead_table}.xmin = seen.xmin "
        f"RETURNING {lead_table}.id, {lead_table}.status, seen.applied, seen.contradicts), "
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
