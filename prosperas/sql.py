"""Helpers for the few hot statements written in SQL (apps/postbacks/rows.py, apps/lenders/rows.py).

Those statements run on every postback or every lender call of a fan-out, where the ORM's
query building costs several times the database's own work. They still read and write values
exactly as the ORM does: the models' own table and column names, the backend's and the fields'
own conversions (an encrypted field decrypts as the ORM decrypts it), on PostgreSQL and SQLite.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
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


@contextlib.contextmanager
def hot_cursor() -> Iterator[Any]:
    """A cursor for a hot statement: on PostgreSQL its parameters are bound by the server and the
    statement is prepared once per connection (DATABASES OPTIONS prepare_threshold), so neither
    psycopg nor PostgreSQL parses and plans it again on every request; elsewhere (SQLite), the
    usual cursor. Django's wrapper stays around it: query logging, assertNumQueries and the
    database error classes see it as any other statement."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    # As Django's own cursors: the connection's time zone when the session's loader has another.
    if connection.timezone != connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
        register_tzloader(connection.timezone, raw)
    wrapper = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapper:
        yield wrapper


def fetch_one(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple | None:
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def datetime_param(moment: datetime) -> Any:
    """A datetime as the backend stores it (naive UTC text on SQLite), to compare or write."""
    return connection.ops.adapt_datetimefield_value(moment)


@functools.cache
def _converters(vendor: str, field: models.Field) -> tuple[Col, tuple]:
    """The conversions the ORM applies to this column's values: the backend's, then the field's
    own (from_db_value). Per database vendor, as the ORM's compiler gets them."""
    expression = Col(field.model._meta.db_table, field)
    return expression, (*connection.ops.get_db_converters(expression), *field.get_db_converters(connection))


def converted(field: models.Field, value: Any) -> Any:
    """A column's raw value as the ORM would load it into `field`."""
    expression, converters = _converters(connection.vendor, field)
    for converter in converters:
        value = converter(value, expression, connection)
    return value


def instance_from_row(model: type[models.Model], fields: Sequence[models.Field], values: Sequence[Any]) -> models.Model:
    """A model instance as the ORM loads one with only() these fields (the others load on access)."""
    loaded = {field.attname: converted(field, value) for field, value in zip(fields, values, strict=True)}
    # from_db takes the values in the model's field order, whatever order the select had.
    names = [field.attname for field in model._meta.concrete_fields if field.attname in loaded]
    return model.from_db(connection.alias, names, [loaded[name] for name in names])
