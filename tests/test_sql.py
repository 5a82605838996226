"""prosperas/sql.py: the hot statements' cursor and row helpers."""

from datetime import UTC, datetime

from apps.lenders.models import Lender
from prosperas.sql import fetch_one, fields_of, instance_from_row
from tests.factories import LenderFactory


def test_a_hot_statement_is_prepared_once_per_connection_and_counted_like_any_other(db, django_assert_num_queries,
                                                                                     settings):
    sql = "SELECT %(moment)s::timestamptz, %(name)s || '!'"
    params = {"moment": datetime(2026, 11, 22, 12, 0, tzinfo=UTC), "name": "prepared"}
    runs = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] + 1  # psycopg prepares it then
    with django_assert_num_queries(runs):
        rows = [fetch_one(sql, params) for _ in range(runs)]
    assert rows == [(params["moment"], "prepared!")] * runs
    # Once, with its parameters bound by the server (not written into the text).
    assert fetch_one("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                     ["SELECT $1::timestamptz, $2 || '!'"]) == (1,)


def test_a_row_becomes_the_instance_the_orm_would_load(db):
    lender = LenderFactory(postback_secret="kept-secret")
    fields = fields_of(Lender, ("id", "postback_secret", "code"))
    row = fetch_one(f"SELECT id, postback_secret, code FROM {Lender._meta.db_table} WHERE id = %s", [lender.pk])
    loaded = instance_from_row(Lender, fields, row)
    assert (loaded.pk, loaded.code, loaded.postback_secret) == (lender.pk, lender.code, "kept-secret")
    assert "credentials" in loaded.get_deferred_fields()
