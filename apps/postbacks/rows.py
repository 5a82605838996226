"""The postback endpoint's reads and writes, in SQL.

Every accepted postback runs these few statements. Through the ORM each would cost several
times the database's own time in building the query (bench/postbacks.py measured the endpoint
at a sixth of a bare view's throughput that way), so they are written once here, with the
models' own table and column names and the fields' own conversions (`from_db_value`,
`get_db_prep_save`): the same values reach the database as through the ORM, on PostgreSQL and
on SQLite (`make run`) alike (helpers in prosperas/sql.py). Everything else in the app uses the ORM.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from apps.lenders.models import Lender
from apps.postbacks.models import PostbackEvent, PostbackNonce
from prosperas.sql import columns, datetime_param, fetch_one, fields_of, instance_from_row

# What authentication reads of a lender: its encrypted adapter credentials are never decrypted.
LENDER_AUTH_FIELDS = ("id", "code", "environment", "postback_auth", "postback_key", "postback_secret",
                      "postback_secret_previous", "postback_ip_allowlist")


def lender_for_authentication(*, column: str, value: str, api_key_only: bool = False) -> Lender | None:
    """The lender whose `column` (postback_key or postback_api_key_digest) is `value`, with only
    LENDER_AUTH_FIELDS loaded (the others load on access, as with the ORM's only())."""
    fields = fields_of(Lender, LENDER_AUTH_FIELDS)
    where = f"{connection.ops.quote_name(column)} = %s"
    params: list[Any] = [value]
    if api_key_only:
        where += " AND postback_auth = %s"
        params.append(Lender.PostbackAuth.API_KEY)
    row = fetch_one(f"SELECT {columns(fields)} FROM {Lender._meta.db_table} WHERE {where}", params)
    return None if row is None else instance_from_row(Lender, fields, row)


def nonce_spend(*, lender_id: int, nonce: str, tester: bool, seen_at: datetime) -> bool:
    """Insert the nonce unless the lender already used it (here, or with the tester's set apart):
    True when it was new. One statement that says whether it inserted: no exception to catch, and
    so no savepoint inside the caller's transaction."""
    sql = (f"INSERT INTO {PostbackNonce._meta.db_table} (lender_id, nonce, tester, seen_at) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (lender_id, tester, nonce) DO NOTHING RETURNING id")
    return fetch_one(sql, [lender_id, nonce, tester, datetime_param(seen_at)]) is not None


# An earlier event of the same lead (or, unmatched, of the same lender and click_id) with the same
# status or, when given, the same event_id. A blank event_id is passed as NULL, which equals nothing.
REPEAT_OF_LEAD = "lead_id = %s AND (status = %s OR event_id = %s)"
REPEAT_UNMATCHED = "lender_id = %s AND lead_id IS NULL AND click_id = %s AND (status = %s OR event_id = %s)"


def _repeat_condition(event: PostbackEvent) -> tuple[str, list[Any]]:
    if event.lead_id is not None:
        return REPEAT_OF_LEAD, [event.lead_id, event.status, event.event_id or None]
    return REPEAT_UNMATCHED, [event.lender_id, event.click_id, event.status, event.event_id or None]


def event_exists_like(event: PostbackEvent) -> bool:
    """Whether `event` (saved or not) would be recorded as a repeat now."""
    condition, params = _repeat_condition(event)
    sql = f"SELECT EXISTS (SELECT 1 FROM {PostbackEvent._meta.db_table} WHERE {condition})"
    return bool(fetch_one(sql, params)[0])


def event_insert(event: PostbackEvent) -> PostbackEvent | None:
    """INSERT the unsaved `event` with every concrete field but the id, as Model.save() would
    (received_at stamped now, as auto_now_add does), and is_repeat decided by the same statement:
    run after the lead's lock is taken, it sees the events of whoever held the lock before
    (PostgreSQL gives each statement its own snapshot). Returns the event saved, or None when the
    lender already used its nonce (a replay: nothing inserted)."""
    fields = [field for field in PostbackEvent._meta.concrete_fields
              if not field.primary_key and field.name != "is_repeat"]
    params = [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in fields]
    condition, repeat_params = _repeat_condition(event)
    table = PostbackEvent._meta.db_table
    # "WHERE true" lets SQLite parse an INSERT ... SELECT without a FROM.
    # ON CONFLICT names the partial unique index postback_event_nonce_once_per_lender, its condition
    # written as Django writes it (SQLite matches the index by the same expression).
    sql = (f"INSERT INTO {table} ({columns(fields)}, is_repeat) "
           f"SELECT {', '.join(['%s'] * len(fields))}, EXISTS (SELECT 1 FROM {table} WHERE {condition}) WHERE true "
           "ON CONFLICT (lender_id, nonce) WHERE NOT (nonce = '') DO NOTHING RETURNING id, is_repeat")
    row = fetch_one(sql, [*params, *repeat_params])
    if row is None:
        return None
    event.pk, is_repeat = row
    event.is_repeat = bool(is_repeat)
    event._state.adding = False
    event._state.db = connection.alias
    return event
