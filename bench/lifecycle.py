"""Benchmark: the retention purge and the key rotation on tables of a few hundred thousand rows.

    make bench NAME=lifecycle        (runs .venv/bin/python bench/lifecycle.py from the repo root)

1. Its own PostgreSQL database (bench_lifecycle_<random> on 127.0.0.1: created, migrated, dropped).
   LEADS leads (generate_series, not the ORM) over the last 365 days: 40 % abandoned before
   identity (deletable once past retention), 10 % abandoned after a decision in a campaign (kept,
   anonymised), 50 % handed off; CALLS lender calls with bodies and EVENTS postback events on them,
   spread over 365 days; ROTATION_LEADS of the kept leads with five encrypted columns under an old
   key.
   Then ANALYZE, as autovacuum would.
2. The purge: the dry run, the purge, and the dry run again (what the daily run costs once nothing
   is due), each timed per kind, with rows per second.
3. The key rotation: `rotate_encryption_keys` with the new key first: values re-encrypted per
   second, then a second run (nothing to do: every row only checked).

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")  # settings require one
LEADS = int(os.environ.get("BENCH_LEADS", "200000"))
CALLS = int(os.environ.get("BENCH_CALLS", "400000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
ROTATION_LEADS = int(os.environ.get("BENCH_ROTATION_LEADS", "20000"))
BODY = '{"trackingId": "x", "documentNumber": "••••••4050", "income": "•••••••", "padding": "' + "x" * 200 + '"}'


def database_url(name: str) -> str:
    return urlsplit(ADMIN_DATABASE_URL)._replace(path=f"/{name}").geturl()


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        connection.execute(sql)


def django_start(db_name: str, old_key: str) -> None:
    os.environ.update({
        "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40), "FIELD_ENCRYPTION_KEYS": old_key, "LOG_LEVEL": "WARNING",
        "REDIS_URL": REDIS_URL, "SANDBOX_ENABLED": "false", "DJANGO_SETTINGS_MODULE": "prosperas.settings",
    })
    os.environ.pop("PYTEST_VERSION", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _literal(field) -> str:
    default = field.get_default()
    if default is None:
        return "NULL"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (int, float)):
        return str(default)
    if isinstance(default, (dict, list)):
        return f"'{json.dumps(default)}'"
    return "''" if default == "" else f"'{default}'"


def insert_series(model, count: int, expressions: dict[str, str]) -> None:
    """INSERT ... SELECT FROM generate_series(1, count) AS n: every column its default unless given."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.local_concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(expressions.get(field.column, _literal(field)))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
                       f"SELECT {', '.join(values)} FROM generate_series(1::bigint, {count}::bigint) AS n")


def data_create() -> None:
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from apps.campaigns.models import Campaign
    from apps.leads.models import Decision, Lead
    from apps.lenders.models import Lender, LenderCall
    from apps.listings.models import Listing
    from apps.origins.models import Origin
    from apps.postbacks.models import PostbackEvent
    from apps.products.models import Product

    origin = Origin.objects.create(code="benchorigin", name="Bench origin", kind=Origin.Kind.WALLET)
    lender = Lender.objects.create(code="bench-lender", name="Bench lender", adapter="embedded",
                                   base_url="http://127.0.0.1:9/unused", postback_key="pk_bench",
                                   postback_secret=secrets.token_hex(16), credentials={"api_key": "k"})
    product = Product.objects.create(product_id="ln_personal_0001", lender=lender, name="Producto", kind="personal",
                                     min_amount=Decimal("500000"), max_amount=Decimal("20000000"), min_term_months=6,
                                     max_term_months=48, min_annual_rate=Decimal("0.18"),
                                     max_annual_rate=Decimal("0.32"))
    listing = Listing.objects.create(listing_id="lst_bench000001", product=product, title="Oferta")
    campaign = Campaign.objects.create(name="Bench", lender=lender, product=product,
                                       starts_at=timezone.now() - timezone.timedelta(days=400))
    # n % 10: 0-3 abandoned before identity, 4 abandoned after a decision (campaign), 5-9 handed off.
    age = "now() - ((n * 7919) % 365) * interval '1 day' - (n % 86400) * interval '1 second'"
    insert_series(Lead, LEADS, {
        "tracking_id": "'bench_' || n", "public_token": "md5(n::text)", "origin_id": str(origin.pk),
        "listing_id": str(listing.pk), "product_id": str(product.pk), "lender_id": str(lender.pk),
        "campaign_id": f"CASE WHEN n % 10 >= 4 THEN {campaign.pk} END",
        "status": "CASE WHEN n % 10 < 4 THEN 'new' WHEN n % 10 = 4 THEN 'not_eligible' ELSE 'handed_off' END",
        "handed_off_at": f"CASE WHEN n % 10 >= 5 THEN {age} END",
        "created_at": age, "updated_at": age,
    })
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {Decision._meta.db_table} (lead_id, lender_id, outcome, reason, lender_reference, "
                       f"created_at, updated_at) SELECT id, {lender.pk}, 'rejected', '', '', created_at, created_at "
                       f"FROM {Lead._meta.db_table} WHERE status = 'not_eligible'")
    first_lead = Lead.objects.order_by("pk").values_list("pk", flat=True).first()
    handed = f"{first_lead} + (n * 10) % {LEADS} + 5"  # leads 5-9 of each ten are handed off
    call_age = "now() - ((n * 104729) % 365) * interval '1 day'"
    insert_series(LenderCall, CALLS, {
        "lender_id": str(lender.pk), "lead_id": handed, "capability": "'prequalify'", "attempt": "1",
        "idempotency_key": "'k' || n", "outcome": "'approved'", "http_status": "200", "request_method": "'POST'",
        "request_url": "'http://127.0.0.1:9/x'", "request_body": f"'{BODY}'", "response_body": f"'{BODY}'",
        "started_at": call_age, "finished_at": call_age, "duration_ms": "120",
    })
    insert_series(PostbackEvent, EVENTS, {
        "lender_id": str(lender.pk), "lead_id": handed, "click_id": "'bench_' || n", "status": "'approved'",
        "occurred_at": call_age, "received_at": call_age, "effect": "'applied'",
        "raw_body": f"convert_to('{BODY}', 'UTF8')", "headers": "'{\"User-Agent\": \"lender\"}'",
        "nonce": "'nonce-' || n", "followed_up_at": call_age, "metadata": "'{\"branch\": \"norte\"}'",
    })


def rotation_data_create() -> None:
    """ROTATION_LEADS leads (handed off, or kept for the funnel) get five encrypted columns under the
    current (old) key."""
    from django.db import connection

    from apps.leads.models import Lead
    from prosperas import crypto

    pks = list(Lead.objects.filter(status__in=["handed_off", "not_eligible"]).order_by("pk")
               .values_list("pk", flat=True)[:ROTATION_LEADS])
    tokens = [[crypto.encrypt(f"{name}-{pk}") for pk in pks] for name in ("doc", "name", "mail", "phone", "birth")]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead AS l SET document_number = v.a, full_name = v.b, email = v.c, phone = v.d, "
            "birth_date = v.e FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "AS v(id, a, b, c, d, e) WHERE l.id = v.id", [pks, *tokens])


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> int:
    from cryptography.fernet import Fernet

    db_name = f"bench_lifecycle_{secrets.token_hex(4)}"
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    admin_execute(f'CREATE DATABASE "{db_name}"')
    try:
        django_start(db_name, old_key)
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from apps.lifecycle.services import data_purge, data_purge_plan
        from prosperas import key_rotation

        _, build_seconds = timed(data_create)
        rotation_data_create()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"built {LEADS:,} leads, {CALLS:,} lender calls, {EVENTS:,} postback events in {build_seconds:.1f} s")

        now = timezone.now()
        plan, plan_seconds = timed(data_purge_plan, now=now)
        done, purge_seconds = timed(data_purge, now=now)
        again, steady_seconds = timed(data_purge_plan, now=now)
        print(f"\n{'kind':<22} {'action':<10} {'rows':>9} {'dry run s':>10} {'purge s':>8} {'rows/s':>8} "
              f"{'nothing due s':>14}")
        for planned, purged, steady in zip(plan, done, again, strict=True):
            assert planned.count == purged.count, (planned.purge.kind, planned.count, purged.count)
            rate = purged.count / purged.seconds if purged.seconds and purged.count else 0
            print(f"{planned.purge.kind:<22} {planned.purge.action:<10} {planned.count:>9,} {planned.seconds:>10.1f} "
                  f"{purged.seconds:>8.1f} {rate:>8,.0f} {steady.seconds:>14.2f}")
        rows = sum(result.count for result in done)
        assert sum(result.count for result in again) == 0
        print(f"\ndry run {plan_seconds:.1f} s; purge {purge_seconds:.1f} s ({rows / purge_seconds:,.0f} rows/s); "
              f"dry run with nothing due {steady_seconds:.1f} s")

        settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
        started = time.perf_counter()
        first = list(key_rotation.keys_rotate(from_start=True))
        rotate_seconds = time.perf_counter() - started
        rotated = sum(progress.rotated for progress in first)
        second, recheck_seconds = timed(lambda: list(key_rotation.keys_rotate(from_start=True)))
        assert sum(progress.rotated for progress in second) == 0
        print(f"rotation: {rotated:,} values in {rotate_seconds:.1f} s ({rotated / rotate_seconds:,.0f}/s); "
              f"second run (only checks) {recheck_seconds:.1f} s")
        figures = {
            "bench": "lifecycle", "leads": LEADS, "calls": CALLS, "events": EVENTS,
            "purged_rows": rows, "dry_run_s": round(plan_seconds, 2), "purge_s": round(purge_seconds, 2),
            "purge_rows_per_s": round(rows / purge_seconds), "steady_dry_run_s": round(steady_seconds, 2),
            "rotated_values": rotated, "rotation_values_per_s": round(rotated / rotate_seconds),
            "rotation_recheck_s": round(recheck_seconds, 2),
        }
        connection.close()
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
