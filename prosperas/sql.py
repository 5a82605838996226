"""Helpers for the few hot statements written in SQL (apps/postbacks/rows.py, apps/lenders/rows.py).

Those statements run on every postback or every lender call of a fan-out, where the ORM's
query building costs several times the database's own work. They still read and write values
exactly as the ORM does: the models' own table and column names, the backend's and the fields'
own conversions (an encrypted field decrypts as the ORM decrypts it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models.expressions import Col


def fields_of(model: type[models.Model], names: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in names]


def columns(fields: Sequence[models.Field], *, alias: str = "") -> str:
    """The quoted column list of `fields`, each prefixed by `alias.` when given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{connection.ops.quote_name(field.column)}" for field in fields)


def fetch_one(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple | None:
    """The statement's first row. Its parameters are bound by the server and it is prepared once
    per connection after DATABASES OPTIONS prepare_threshold runs (psycopg's own prepared
    statements): Django's cursor, so query logging and the database error classes see it as any
    other statement."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def datetime_param(moment: datetime) -> Any:
    """A datetime as the backend takes it, to compare or write."""
    return connection.ops.adapt_datetimefield_value(moment)


@functools.cache
def _converters(field: models.Field) -> tuple[Col, tuple]:
    """The conversions the ORM applies to this column's values: the backend's, then the field's
    own (from_db_value), as the ORM's compiler gets them."""
    expression = Col(field.model._meta.db_table, field)
    return expression, (*connection.ops.get_db_converters(expression), *field.get_db_converters(connection))


def converted(field: models.Field, value: Any) -> Any:
    """A column's raw value as the ORM would load it into `field`."""
    expression, converters = _converters(field)
    for converter in converters:
        value = converter(value, expression, connection)
    return value


def instance_from_row(model: type[models.Model], fields: Sequence[models.Field], values: Sequence[Any]) -> models.Model:
    """A model instance as the ORM loads one with only() these fields (the others load on access)."""
    loaded = {field.attname: converted(field, value) for field, value in zip(fields, values, strict=True)}
    # from_db takes the values in the model's field order, whatever order the select had.
    names = [field.attname for field in model._meta.concrete_fields if field.attname in loaded]
    return model.from_db(connection.alias, names, [loaded[name] for name in names])


def instance_by_pk(model: type[models.Model], pk: Any, *, exclude: Sequence[str] = ()) -> models.Model | None:
    """The row of this primary key as the ORM would load it (`exclude`d fields load on access),
    or None: `Model.objects.filter(pk=pk).first()` without building the query each time."""
    fields = [field for field in model._meta.concrete_fields if field.name not in exclude]
    row = fetch_one(_select_by_pk(model, tuple(field.name for field in fields)), [pk])
    return instance_from_row(model, fields, row) if row is not None else None


@functools.cache
def _select_by_pk(model: type[models.Model], names: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    return (f"SELECT {columns(fields_of(model, names))} FROM {quote(model._meta.db_table)}"
            f" WHERE {quote(model._meta.pk.column)} = %s")


def update_by_pk(model: type[models.Model], pk: Any, values: Mapping[str, Any]) -> int:
    """`Model.objects.filter(pk=pk).update(**values)` for plain values (no expressions), each
    prepared for the database as the ORM prepares it (an encrypted field is encrypted); the
    number of rows updated."""
    fields = fields_of(model, list(values))
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(model._meta.db_table)} SET {assignments}"
                       f" WHERE {quote(model._meta.pk.column)} = %s", [*params, pk])
        return cursor.rowcount


def counts_add(model: type[models.Model], deltas: Mapping[tuple, Sequence[Any]], *, group: Sequence[str],
               counts: Sequence[str], constraint: str, drop_when_zero: Sequence[str]) -> None:
    """Add each group's amounts (possibly negative) to its row of a rollup table: a missing row is
    created first, and a row whose `drop_when_zero` columns are all left at zero is deleted (a
    rebuild would not write it). Call inside a transaction. `deltas` maps a group's values (in
    `group`'s order, NULLs allowed: the `constraint` is unique NULLS NOT DISTINCT) to its amounts
    (in `counts`' order). The ORM has no "add to these counts, creating the row if missing" for a
    batch of groups."""
    rows = sorted(deltas.items(), key=lambda item: tuple((value is None, "" if value is None else value)
                                                         for value in item[0]))
    for start in range(0, len(rows), _ADD_BATCH):
        _counts_add(model, rows[start:start + _ADD_BATCH], group=group, counts=counts, constraint=constraint,
                    drop_when_zero=drop_when_zero)


# Groups per statement: their parameters stay well under PostgreSQL's 65,535.
_ADD_BATCH = 1000


def _counts_add(model, rows: list[tuple[tuple, Sequence[Any]]], *, group: Sequence[str], counts: Sequence[str],
                constraint: str, drop_when_zero: Sequence[str]) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    group_fields, count_fields = fields_of(model, group), fields_of(model, counts)
    values = ", ".join(["(" + ", ".join(["%s"] * (len(group) + len(counts))) + ")"] * len(rows))
    params = [value for key, amounts in rows for value in (*key, *amounts)]
    names = columns([*group_fields, *count_fields])
    # Cast: a VALUES list types a NULL or a plain number as text or int otherwise.
    cast = {field: f"CAST(d.{quote(field.column)} AS {field.cast_db_type(connection)})"
            for field in (*group_fields, *count_fields)}
    same_group = " AND ".join(f"f.{quote(field.column)} IS NOT DISTINCT FROM {cast[field]}" for field in group_fields)
    additions = ", ".join(f"{quote(field.column)} = f.{quote(field.column)} + {cast[field]}" for field in count_fields)
    empty = " AND ".join(f"f.{quote(field.column)} = 0" for field in fields_of(model, drop_when_zero))
    source = f"(VALUES {values}) AS d ({names})"
    with connection.cursor() as cursor:
        # Rows in a fixed order (sorted above): two runs never wait on each other's rows crosswise.
        cursor.execute(
            f"INSERT INTO {table} ({columns(group_fields)}, {columns(count_fields)}) "
            f"SELECT {', '.join(cast[field] for field in group_fields)}, {', '.join('0' for _ in count_fields)} "
            f"FROM {source} ON CONFLICT ON CONSTRAINT {quote(constraint)} DO NOTHING", params)
        cursor.execute(f"UPDATE {table} AS f SET {additions} FROM {source} WHERE {same_group}", params)
        cursor.execute(f"DELETE FROM {table} AS f USING {source} WHERE {same_group} AND {empty}", params)
