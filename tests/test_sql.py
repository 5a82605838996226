"""prosperas/sql.py: the hot statements' cursor and row helpers."""

from datetime import UTC, datetime

from apps.lenders.models import Lender
from prosperas.sql import fetch_one, fields_of, instance_by_pk, instance_from_row, update_by_pk
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


def test_a_row_by_primary_key_is_what_the_orm_loads_with_the_excluded_fields_deferred(db):
    lender = LenderFactory(credentials={"api_key": "k-1"}, postback_secret="kept-secret")
    loaded = instance_by_pk(Lender, lender.pk, exclude=("postback_secret",))
    orm = Lender.objects.get(pk=lender.pk)
    assert [getattr(loaded, f.attname) for f in Lender._meta.concrete_fields if f.name != "postback_secret"] == [
        getattr(orm, f.attname) for f in Lender._meta.concrete_fields if f.name != "postback_secret"]
    assert loaded.credentials == {"api_key": "k-1"}  # decrypted as the ORM decrypts it
    assert loaded.get_deferred_fields() == {"postback_secret"}
    assert instance_by_pk(Lender, 0) is None


def test_an_update_by_primary_key_prepares_each_value_as_the_orm_does(db):
    lender = LenderFactory()
    other = LenderFactory(name="Untouched")
    assert update_by_pk(Lender, lender.pk, {"name": "Renamed", "postback_secret": "new-secret",
                                            "circuit_changed_at": datetime(2026, 12, 3, 9, 30, tzinfo=UTC)}) == 1
    stored = Lender.objects.get(pk=lender.pk)
    assert (stored.name, stored.postback_secret, stored.circuit_changed_at) == (
        "Renamed", "new-secret", datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    raw = fetch_one(f"SELECT postback_secret FROM {Lender._meta.db_table} WHERE id = %s", [lender.pk])[0]
    assert "new-secret" not in raw  # encrypted on the way in
    assert Lender.objects.get(pk=other.pk).name == "Untouched"
    assert update_by_pk(Lender, 0, {"name": "Nobody"}) == 0
