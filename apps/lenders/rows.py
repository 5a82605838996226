"""The claim's reads in SQL: what every lender call of a compare fan-out reads before its call.

A fan-out of K lenders makes K claims at once in one worker process, and no lender call starts
before its claim is done, so their cost is paid by every lender of the fan-out. Through the ORM
these reads cost several times the database's own time in building the queries (a joined
select of some twenty columns above all), so they are written once here, with the models' own
table and column names and the fields' own conversions (`from_db_value`: the lead's encrypted
fields are decrypted as the ORM decrypts them), on PostgreSQL and on SQLite alike. Each is its
own statement, run after the row lock is taken: a statement's snapshot is taken when it starts,
so a read folded into the locking select would not see what the attempt it waited for wrote.
The same approach as apps/postbacks/rows.py; everything else in the app uses the ORM.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models.expressions import Col

from apps.leads.models import Decision, Lead
from apps.lenders.models import DecisionRequest, LenderCall
from apps.listings.models import Listing
from apps.products.models import Product

# What a compare-mode attempt reads of its ask, and of its journey (services.JOURNEY_FIELDS_READ
# without the lead's own product and listing: the ask's are the ones applied for).
ASK_FIELDS = ("id", "state", "lead", "lender", "campaign", "product", "listing")
JOURNEY_FIELDS = (
    "id", "tracking_id", "status", "compare_mode", "lender", "document_type", "document_number", "full_name",
    "email", "phone", "birth_date", "region", "monthly_income", "currency", "requested_amount", "lender_reference",
    "chosen_offer",
)


def _fields(model: type[models.Model], names: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in names]


def _columns(alias: str, fields: list[models.Field]) -> str:
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in fields)


@functools.cache
def _converters(vendor: str, field: models.Field) -> tuple[Col, tuple]:
    """The conversions the ORM applies to this column's values: the backend's, then the field's
    own (from_db_value). Per database vendor, as the ORM's compiler gets them."""
    expression = Col(field.model._meta.db_table, field)
    return expression, (*connection.ops.get_db_converters(expression), *field.get_db_converters(connection))


def _converted(field: models.Field, value: Any) -> Any:
    expression, converters = _converters(connection.vendor, field)
    for converter in converters:
        value = converter(value, expression, connection)
    return value


def _instance(model: type[models.Model], fields: list[models.Field], values: Sequence[Any]) -> models.Model:
    """A model instance as the ORM loads one with only() these fields (the others load on access)."""
    loaded = {field.attname: _converted(field, value) for field, value in zip(fields, values, strict=True)}
    # from_db takes the values in the model's field order.
    names = [field.attname for field in model._meta.concrete_fields if field.attname in loaded]
    return model.from_db(connection.alias, names, [loaded[name] for name in names])


def compare_ask_locked(*, lead_id: int, lender_id: int) -> DecisionRequest | None:
    """The compare-mode ask of this lead and lender, its row locked until the transaction ends,
    with its journey's fields and the catalog entry asked for (product_id, listing_id) cached on
    it; None when there is no such ask or the lead is not in compare mode."""
    ask_fields, lead_fields = _fields(DecisionRequest, ASK_FIELDS), _fields(Lead, JOURNEY_FIELDS)
    product_fields, listing_fields = _fields(Product, ("id", "product_id")), _fields(Listing, ("id", "listing_id"))
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE OF a" if connection.features.has_select_for_update_of else " FOR UPDATE"
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {_columns('a', ask_fields)}, {_columns('l', lead_fields)}, {_columns('p', product_fields)},"
        f" {_columns('s', listing_fields)}"
        f" FROM {quote(DecisionRequest._meta.db_table)} a"
        f" JOIN {quote(Lead._meta.db_table)} l ON l.id = a.lead_id"
        f" JOIN {quote(Product._meta.db_table)} p ON p.id = a.product_id"
        f" JOIN {quote(Listing._meta.db_table)} s ON s.id = a.listing_id"
        f" WHERE a.lead_id = %s AND a.lender_id = %s AND l.compare_mode = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [lead_id, lender_id, True])
        row = cursor.fetchone()
    if row is None:
        return None
    ends = _offsets(ask_fields, lead_fields, product_fields)
    ask = _instance(DecisionRequest, ask_fields, row[:ends[0]])
    related = {
        "lead": _instance(Lead, lead_fields, row[ends[0]:ends[1]]),
        "product": _instance(Product, product_fields, row[ends[1]:ends[2]]),
        "listing": _instance(Listing, listing_fields, row[ends[2]:]),
    }
    for name, instance in related.items():
        DecisionRequest._meta.get_field(name).set_cached_value(ask, instance)
    return ask


def _offsets(*groups: list) -> list[int]:
    ends, total = [], 0
    for group in groups:
        total += len(group)
        ends.append(total)
    return ends


def decision_outcome(*, lead_id: int, lender_id: int) -> str | None:
    """The outcome of the decision stored for this lead and lender, if any."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT outcome FROM {connection.ops.quote_name(Decision._meta.db_table)}"
                       " WHERE lead_id = %s AND lender_id = %s", [lead_id, lender_id])
        row = cursor.fetchone()
    return row[0] if row else None


def lender_calls_earlier(*, lead_id: int, lender_id: int, capability: str) -> list[tuple[int, str, datetime]]:
    """(id, outcome, started_at) of every attempt at this capability for this lead and lender."""
    started_at = LenderCall._meta.get_field("started_at")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, outcome, started_at FROM {connection.ops.quote_name(LenderCall._meta.db_table)}"
                       " WHERE lead_id = %s AND lender_id = %s AND capability = %s", [lead_id, lender_id, capability])
        rows = cursor.fetchall()
    return [(pk, outcome, _converted(started_at, at)) for pk, outcome, at in rows]
