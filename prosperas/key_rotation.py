"""Re-encrypting every encrypted column under the first key of FIELD_ENCRYPTION_KEYS, online.

The columns are found in the model registry, never listed: every concrete field, in any
installed app, that is an instance of a field class defined in prosperas/crypto.py. A new
encrypted field is rotated the day it is added.

How one column is rotated, and why it is safe while the platform serves traffic:

- **Batches by primary key** (`pk > last ORDER BY pk LIMIT n`): each batch is one read and one
  UPDATE, each its own short transaction, so no lock is held between batches.
- **Only rows not already under the first key are written.** A Fernet token does not name its
  key, but its last 32 bytes are an HMAC-SHA256 made with the key's signing half:
  `Fernet(first).extract_timestamp(token)` checks that HMAC without decrypting anything, so
  telling a rotated row from a stale one costs one HMAC per row, and a second run over a rotated
  table writes nothing (idempotent).
- **Never over a concurrent change**: the UPDATE is a compare-and-set,
  `... WHERE pk = v.pk AND column = v.old_token`, so a value the platform rewrote after the batch
  read it is left as the platform wrote it (a process that has the new key list encrypts under
  the first key anyway). A row that changed and is still under an old key is read again and tried
  once more, a few times at most.
- **Resumable**: the last primary key done per column is kept in the cache under the first
  key's fingerprint, so a run that stops continues where it was; `from_start` reads everything
  again, which is cheap for rows already rotated (the HMAC check above), so losing the checkpoint
  costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps as django_apps
from django.core.cache import cache
from django.db import DatabaseError, connection, models, transaction

from prosperas import crypto

CHECKPOINT_SECONDS = 14 * 24 * 3600
# A row rewritten by the platform between our read and our write, and still under an old key
# (a process not yet given the new key list), is read again this many times before it is reported.
CONFLICT_ROUNDS = 3


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[models.Model]
    field: models.Field

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"

    @property
    def table(self) -> str:
        return self.model._meta.db_table


@dataclass
class ColumnProgress:
    """What a run did to one column so far; `fraction` of its primary key range is done."""

    column: EncryptedColumn
    scanned: int = 0
    rotated: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0
    unreadable: list = field(default_factory=list)  # primary keys no configured key decrypts
    fraction: float = 0.0
    resumed_after: object = None


def encrypted_field_classes() -> tuple[type[models.Field], ...]:
    """Every model field class prosperas/crypto.py defines (subclasses elsewhere count too, by isinstance)."""
    return tuple(
        value for value in vars(crypto).values()
        if inspect.isclass(value) and issubclass(value, models.Field) and value.__module__ == crypto.__name__
    )


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column of every installed model, from the model registry."""
    classes = encrypted_field_classes()
    found = []
    for model in django_apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.swapped:
            continue
        for model_field in meta.local_concrete_fields:
            if isinstance(model_field, classes):
                found.append(EncryptedColumn(model=model, field=model_field))
    return sorted(found, key=lambda column: column.label)


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def current_key() -> str:
    return crypto.configured_keys()[0]


def _checkpoint_key(column: EncryptedColumn) -> str:
    return f"key-rotation:{key_fingerprint(current_key())}:{column.table}.{column.field.column}"


def _quoted(column: EncryptedColumn) -> tuple[str, str, str, str]:
    quote = connection.ops.quote_name
    pk = column.model._meta.pk
    return quote(column.table), quote(pk.column), quote(column.field.column), pk.rel_db_type(connection)


def _read_batch(column: EncryptedColumn, after, size: int) -> list[tuple]:
    table, pk, col, _ = _quoted(column)
    where = "" if after is None else f"AND {pk} > %s"
    sql = (f"SELECT {pk}, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} <> '' {where} "
           f"ORDER BY {pk} LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [after, size] if after is not None else [size])
        return cursor.fetchall()


def _read_rows(column: EncryptedColumn, pks: list) -> list[tuple]:
    table, pk, col, pk_type = _quoted(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {col} FROM {table} WHERE {pk} = ANY(%s::{pk_type}[]) "
                       f"AND {col} IS NOT NULL AND {col} <> '' ORDER BY {pk}", [pks])
        return cursor.fetchall()


def rotated_rows_write(column: EncryptedColumn, rows: list[tuple]) -> set:
    """Write (pk, old token, new token) rows, each only where the column still holds the old
    token; one statement, its own transaction. Returns the primary keys written."""
    if not rows:
        return set()
    table, pk, col, pk_type = _quoted(column)
    sql = (f"UPDATE {table} AS t SET {col} = v.new_token "
           f"FROM unnest(%s::{pk_type}[], %s::text[], %s::text[]) AS v(id, old_token, new_token) "
           f"WHERE t.{pk} = v.id AND t.{col} = v.old_token RETURNING t.{pk}")
    pks, old, new = (list(values) for values in zip(*rows, strict=True))
    for attempt in range(3):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Wait briefly for a row a request holds; a batch that cannot get its rows is tried again.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                cursor.execute(sql, [pks, old, new])
                return {row[0] for row in cursor.fetchall()}
        except DatabaseError:  # lock timeout or deadlock with a request: the rows are read again
            if attempt == 2:
                raise
    return set()


def _stale(first: Fernet, rows: list[tuple], progress: ColumnProgress) -> list[tuple]:
    """(pk, old, new) for each row not under the first key; counts the rest."""
    stale = []
    for pk, token in rows:
        try:
            first.extract_timestamp(token)  # the HMAC of the first key: already rotated
            progress.already_current += 1
            continue
        except InvalidToken:
            pass
        try:
            stale.append((pk, token, crypto.rotate(token)))
        except InvalidToken:
            progress.unreadable.append(pk)
    return stale


def _rotate_rows(column: EncryptedColumn, first: Fernet, rows: list[tuple], progress: ColumnProgress) -> None:
    for _ in range(CONFLICT_ROUNDS):
        stale = _stale(first, rows, progress)
        written = rotated_rows_write(column, stale)
        progress.rotated += len(written)
        missed = [pk for pk, _, _ in stale if pk not in written]
        if not missed:
            return
        rows = _read_rows(column, missed)  # changed meanwhile (or deleted): look again
        progress.changed_meanwhile += len(missed)
    # Still changing under an old key after every round: counted, left for the next run.


def _span(column: EncryptedColumn) -> tuple:
    table, pk, _, _ = _quoted(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min({pk}), max({pk}) FROM {table}")
        return cursor.fetchone()


def column_rotate(column: EncryptedColumn, *, batch_size: int = 500, from_start: bool = False,
                  on_progress: Callable[[ColumnProgress], None] | None = None) -> ColumnProgress:
    """Re-encrypt one column under the first key, batch by batch (see the module docstring)."""
    first = Fernet(current_key().encode())
    progress = ColumnProgress(column=column)
    checkpoint = _checkpoint_key(column)
    after = None if from_start else cache.get(checkpoint)
    progress.resumed_after = after
    low, high = _span(column)
    while True:
        rows = _read_batch(column, after, batch_size)
        if not rows:
            break
        progress.scanned += len(rows)
        _rotate_rows(column, first, rows, progress)
        after = rows[-1][0]
        cache.set(checkpoint, after, CHECKPOINT_SECONDS)
        progress.fraction = _fraction(after, low, high)
        if on_progress:
            on_progress(progress)
    progress.fraction = 1.0
    if on_progress:
        on_progress(progress)
    return progress


def _fraction(after, low, high) -> float:
    try:
        return min(1.0, (after - low + 1) / (high - low + 1))
    except TypeError:  # a primary key that is not a number: no fraction, only counts
        return 0.0


def keys_rotate(*, batch_size: int = 500, from_start: bool = False,
                on_progress: Callable[[ColumnProgress], None] | None = None) -> Iterator[ColumnProgress]:
    """Rotate every encrypted column; yields each column's result as it finishes."""
    for column in encrypted_columns():
        yield column_rotate(column, batch_size=batch_size, from_start=from_start, on_progress=on_progress)


def keys_rotation_checkpoints_clear() -> None:
    for column in encrypted_columns():
        cache.delete(_checkpoint_key(column))
