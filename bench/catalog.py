"""Benchmark: the ranked catalog of an origin with 1,000 campaigns and 5,000 listings, and the
delivery check (lock, rules, ledger row, totals) under 20 concurrent consumers.

    make bench NAME=catalog        (runs .venv/bin/python bench/catalog.py from the repo root)

Everything on loopback, bounded (about a minute), cleaned up at the end:

1. Its own PostgreSQL database (bench_catalog_<random> on 127.0.0.1: created, migrated, dropped).
   1,000 campaigns of 100 lenders, one product each with 5 listings (5,000 listings), all shown to
   the measured origin and some to others; a realistic mix the rules must sift: 5 % paused, 5 %
   not started, 5 % at their total cap, 5 % out of budget, a third with daily caps (some reached
   today), per-origin caps. Priorities and weights at random. Then ANALYZE, as autovacuum would.
2. The catalog: ROUNDS rounds of CALLS calls of catalog_for_origin (the flow's call: best 50
   entries), side by side with the full catalog (every deliverable listing, about 4,000) and a
   bare `SELECT 1` round trip; the median of the rounds' p50 and p95. Target: p95 <= 20 ms.
   The number of queries per catalog is counted too (it must be 1).
3. Delivery: CONSUMERS processes, each its own connection, each routing DELIVERIES_EACH leads the
   way journey_identity_submit does (the lead's conditional update, then lead_delivery_record,
   in one transaction). Side by side, per round: one consumer alone (the cost of a delivery),
   "spread" (each consumer on its own campaign) and "contended" (every consumer on one campaign:
   they queue on its row lock). Throughput,
   p50 / p95 latency per delivery, and the contended / spread throughput ratio; the ledger is
   checked against the counts.

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")  # settings require one
CAMPAIGNS = int(os.environ.get("BENCH_CAMPAIGNS", "1000"))
LISTINGS_PER_CAMPAIGN = 5
LENDERS = 100
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
FULL_CALLS = int(os.environ.get("BENCH_FULL_CALLS", "20"))
CONSUMERS = int(os.environ.get("BENCH_CONSUMERS", "20"))
DELIVERIES_EACH = int(os.environ.get("BENCH_DELIVERIES_EACH", "30"))
DELIVERY_ROUNDS = int(os.environ.get("BENCH_DELIVERY_ROUNDS", "3"))
TARGET_P95_MS = 20.0
SEED = 20261121
PRODUCT_NUMBERS = itertools.count(100_000)


def database_url(name: str) -> str:
    return urlsplit(ADMIN_DATABASE_URL)._replace(path=f"/{name}").geturl()


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        connection.execute(sql)


def django_start(db_name: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.update({
        "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "LOG_LEVEL": "WARNING", "REDIS_URL": REDIS_URL,
        "SANDBOX_ENABLED": "false", "DJANGO_SETTINGS_MODULE": "prosperas.settings", "DATABASE_CONN_MAX_AGE": "0",
    })
    os.environ.pop("PYTEST_VERSION", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# --- Data -------------------------------------------------------------------------------------------


def marketplace_create():
    """The origins, lenders, products, listings and campaigns; returns the measured origin."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from apps.campaigns.models import Campaign, CampaignOrigin
    from apps.campaigns.selectors import marketplace_day
    from apps.lenders.models import Lender
    from apps.listings.models import Listing
    from apps.origins.models import Origin
    from apps.products.models import Product

    rng = random.Random(SEED)
    now, today = timezone.now(), marketplace_day()
    with transaction.atomic():
        origins = Origin.objects.bulk_create(
            [Origin(code=f"benchorigin{n}", name=f"Bench origin {n}", kind=Origin.Kind.WALLET) for n in range(5)]
        )
        lenders = Lender.objects.bulk_create([
            Lender(code=f"bench-lender-{n}", name=f"Bench lender {n}", adapter="embedded",
                   base_url="http://127.0.0.1:9/unused", postback_key=f"pk_bench_{n}_{secrets.token_hex(4)}",
                   postback_secret=secrets.token_hex(16), credentials={})
            for n in range(LENDERS)
        ])
        products = Product.objects.bulk_create([
            Product(product_id=f"ln_personal_{n + 1:04d}", lender=lenders[n % LENDERS], name=f"Producto {n}",
                    kind="personal", min_amount=Decimal("500000"), max_amount=Decimal("20000000"), min_term_months=6,
                    max_term_months=48, min_annual_rate=Decimal("0.18"), max_annual_rate=Decimal("0.32"))
            for n in range(CAMPAIGNS)
        ])
        listings = Listing.objects.bulk_create([
            Listing(listing_id=f"lst_bench{n:06d}", product=products[n // LISTINGS_PER_CAMPAIGN], title=f"Oferta {n}")
            for n in range(CAMPAIGNS * LISTINGS_PER_CAMPAIGN)
        ])
        campaigns = []
        for n, product in enumerate(products):
            kind = rng.random()
            fields = {"priority": rng.randint(1, 100), "weight": rng.randint(1, 500),
                      "starts_at": now - timedelta(days=3),
                      "price_per_lead": Decimal("1000"), "budget": Decimal("10000000")}
            if kind < 0.05:
                fields["is_active"] = False
            elif kind < 0.10:
                fields["starts_at"] = now + timedelta(days=2)
            elif kind < 0.15:
                fields.update(total_lead_cap=50, leads_delivered=50)
            elif kind < 0.20:
                fields.update(budget=Decimal("5000"), spent=Decimal("4500"))
            if rng.random() < 0.33:
                fields["daily_lead_cap"] = rng.choice([10, 50, 200])
                if rng.random() < 0.5:  # some leads already today, some campaigns at their cap
                    fields.update(counted_day=today, counted_day_leads=rng.randint(0, fields["daily_lead_cap"]))
            campaigns.append(
                Campaign(name=f"Bench campaign {n}", lender_id=product.lender_id, product=product, **fields)
            )
        campaigns = Campaign.objects.bulk_create(campaigns)
        Campaign.listings.through.objects.bulk_create([
            Campaign.listings.through(campaign_id=campaign.pk, listing_id=listing.pk)
            for index, campaign in enumerate(campaigns)
            for listing in listings[index * LISTINGS_PER_CAMPAIGN:(index + 1) * LISTINGS_PER_CAMPAIGN]
        ])
        links = []
        for campaign in campaigns:
            targeted = [origins[0], *rng.sample(origins[1:], rng.randint(0, 2))]
            for origin in targeted:
                cap = rng.choice([None, None, None, 100, 20])
                counted = rng.randint(0, cap) if cap else 0
                links.append(CampaignOrigin(campaign=campaign, origin=origin, daily_lead_cap=cap, counted_day=today,
                                            counted_day_leads=counted, leads_delivered=counted))
        CampaignOrigin.objects.bulk_create(links)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have, long before a thousand campaigns run
    return origins[0]


# --- The catalog ------------------------------------------------------------------------------------


def timed(call, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def catalog_bench(origin) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.campaigns.catalog import catalog_for_origin

    def select_one():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    with CaptureQueriesContext(connection) as queries:
        entries = catalog_for_origin(origin=origin)
        [(entry.listing.title, entry.listing.product.name, entry.campaign.lender.name) for entry in entries]
    full_size = len(catalog_for_origin(origin=origin, limit=None))
    timed(lambda: catalog_for_origin(origin=origin), 20)  # warm-up
    rounds = []
    for _ in range(ROUNDS):
        catalog = timed(lambda: catalog_for_origin(origin=origin), CALLS)
        full = timed(lambda: catalog_for_origin(origin=origin, limit=None), FULL_CALLS)
        bare = timed(select_one, CALLS)
        rounds.append({
            "catalog_p50": percentile(catalog, 0.5), "catalog_p95": percentile(catalog, 0.95),
            "full_p50": percentile(full, 0.5), "full_p95": percentile(full, 0.95),
            "select1_p50": percentile(bare, 0.5), "select1_p95": percentile(bare, 0.95),
        })
    figures = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    return {**figures, "queries": len(queries), "entries": len(entries), "full_entries": full_size}


# --- Delivery ---------------------------------------------------------------------------------------


def delivery_campaigns(count: int) -> list:
    from datetime import timedelta

    from django.utils import timezone

    from apps.campaigns.models import Campaign, CampaignOrigin
    from apps.lenders.models import Lender
    from apps.listings.models import Listing
    from apps.origins.models import Origin
    from apps.products.models import Product

    origin = Origin.objects.get(code="benchorigin0")
    lender = Lender.objects.order_by("pk").first()
    made = []
    for _ in range(count):
        tag = secrets.token_hex(4)
        product = Product.objects.create(
            product_id=f"ln_payroll_{next(PRODUCT_NUMBERS)}",
            lender=lender, name="Bench delivery", kind="payroll", min_amount=Decimal("500000"),
            max_amount=Decimal("20000000"), min_term_months=6, max_term_months=48, min_annual_rate=Decimal("0.15"),
            max_annual_rate=Decimal("0.25"), min_monthly_income=1_000_000, document_types=["CC", "CE"],
        )
        listing = Listing.objects.create(listing_id=f"lst_d{tag}", product=product, title="Bench delivery")
        campaign = Campaign.objects.create(
            name=f"Bench delivery {tag}", lender=lender, product=product, starts_at=timezone.now() - timedelta(days=1),
            price_per_lead=Decimal("1000"), budget=Decimal("100000000"), daily_lead_cap=100_000,
            min_monthly_income=1_500_000,
        )
        campaign.listings.add(listing)
        CampaignOrigin.objects.create(campaign=campaign, origin=origin, daily_lead_cap=100_000)
        made.append((campaign, listing))
    return made


def leads_for(campaign, listing, count: int) -> list[int]:
    from apps.leads.models import Lead

    leads = Lead.objects.bulk_create([
        Lead(origin_id=campaign.campaign_origins.get().origin_id, tracking_id=f"bench_{secrets.token_hex(12)}",
             public_token=secrets.token_urlsafe(24), listing=listing, product_id=campaign.product_id,
             lender_id=campaign.lender_id, campaign=campaign, document_type="CC", monthly_income=3_000_000)
        for _ in range(count)
    ])
    return [lead.pk for lead in leads]


def deliver_one(lead_id: int) -> None:
    """What journey_identity_submit does around the delivery: claim the step, check and charge."""
    from django.db import transaction
    from django.utils import timezone

    from apps.campaigns.services import lead_delivery_record
    from apps.leads.models import Lead, LeadStatus

    with transaction.atomic():
        claimed = Lead.objects.filter(pk=lead_id, status=LeadStatus.NEW).update(
            status=LeadStatus.AWAITING_DECISION, identity_at=timezone.now()
        )
        if claimed:
            lead_delivery_record(lead=Lead.objects.select_related("origin").get(pk=lead_id))


def _consumer(batch: list[int], barrier, results) -> None:
    """One consumer process: its own database connection, its leads routed one after another."""
    from django.db import connection

    latencies, error = [], ""
    try:
        barrier.wait()
        for lead_id in batch:
            began = time.perf_counter()
            deliver_one(lead_id)
            latencies.append((time.perf_counter() - began) * 1000)
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        error = repr(exc)
    finally:
        connection.close()
        results.put((latencies, error))


def delivery_run(batches: list[list[int]]) -> dict:
    """The batches delivered at once by one process each (processes, not threads: a consumer is a
    web worker, and threads of one process would measure Python's lock rather than the database's)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # children open their own connections; none is shared across a fork:
    for wrapper in connections.all():  # the pool's open connections would be, so it goes too
        wrapper.close_pool()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(batches) + 1), context.Queue()
    processes = [context.Process(target=_consumer, args=(batch, barrier, results)) for batch in batches]
    for process in processes:
        process.start()
    barrier.wait()
    began = time.perf_counter()
    outcomes = [results.get(timeout=300) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"{len(errors)} consumers failed: {errors[0]}")
    latencies = [latency for batch_latencies, _ in outcomes for latency in batch_latencies]
    return {"per_s": len(latencies) / elapsed, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "count": len(latencies)}


def delivery_bench() -> dict:
    from apps.campaigns.models import Campaign, LedgerEntry

    spread_campaigns = delivery_campaigns(CONSUMERS)
    (contended_campaign, contended_listing), = delivery_campaigns(1)
    (alone_campaign, alone_listing), = delivery_campaigns(1)
    rounds = []
    for _ in range(DELIVERY_ROUNDS):
        alone = delivery_run([leads_for(alone_campaign, alone_listing, DELIVERIES_EACH)])
        spread = delivery_run([leads_for(campaign, listing, DELIVERIES_EACH) for campaign, listing in spread_campaigns])
        contended = delivery_run([leads_for(contended_campaign, contended_listing, DELIVERIES_EACH)
                                  for _ in range(CONSUMERS)])
        rounds.append({"alone_per_s": alone["per_s"], "alone_p50": alone["p50"], "alone_p95": alone["p95"],
                       "spread_per_s": spread["per_s"], "spread_p50": spread["p50"], "spread_p95": spread["p95"],
                       "contended_per_s": contended["per_s"], "contended_p50": contended["p50"],
                       "contended_p95": contended["p95"], "ratio": contended["per_s"] / spread["per_s"]})
    expected = DELIVERY_ROUNDS * CONSUMERS * DELIVERIES_EACH
    contended_campaign.refresh_from_db()
    ledger_ok = (
        LedgerEntry.objects.filter(campaign=contended_campaign).count() == expected
        and contended_campaign.leads_delivered == expected
        and sum(Campaign.objects.filter(pk__in=[c.pk for c, _ in spread_campaigns])
                .values_list("leads_delivered", flat=True)) == expected
    )
    figures = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    return {**figures, "ledger_matches": ledger_ok, "deliveries_per_run": CONSUMERS * DELIVERIES_EACH}


# --- Main -------------------------------------------------------------------------------------------


def main() -> int:
    db_name = f"bench_catalog_{secrets.token_hex(4)}"
    admin_execute(f'CREATE DATABASE "{db_name}"')
    try:
        started = time.monotonic()
        django_start(db_name)
        origin = marketplace_create()
        print(f"Setup: database {db_name}, {CAMPAIGNS} campaigns, {CAMPAIGNS * LISTINGS_PER_CAMPAIGN} listings "
              f"({time.monotonic() - started:.1f} s).")
        catalog = catalog_bench(origin)
        delivery = delivery_bench()
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may never have been set up
            pass
        admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    print()
    print(f"Ranked catalog for one origin ({catalog['queries']} query, {catalog['entries']} entries shown of "
          f"{catalog['full_entries']} deliverable); median of {ROUNDS} rounds x {CALLS} calls:")
    print("                          p50 ms    p95 ms")
    print(f"  catalog (best 50)      {catalog['catalog_p50']:7.2f}   {catalog['catalog_p95']:7.2f}   "
          f"target p95 <= {TARGET_P95_MS:g} ms: {'met' if catalog['catalog_p95'] <= TARGET_P95_MS else 'MISSED'}")
    print(f"  full catalog           {catalog['full_p50']:7.2f}   {catalog['full_p95']:7.2f}")
    print(f"  SELECT 1 round trip    {catalog['select1_p50']:7.2f}   {catalog['select1_p95']:7.2f}")
    print()
    print(f"Delivery check, {CONSUMERS} concurrent consumers x {DELIVERIES_EACH} leads; "
          f"median of {DELIVERY_ROUNDS} rounds:")
    print("                          per s     p50 ms    p95 ms")
    for label, key in (("one consumer alone", "alone"), (f"spread ({CONSUMERS} campaigns)", "spread"),
                       ("contended (1 campaign)", "contended")):
        print(f"  {label:<22} {delivery[key + '_per_s']:7.0f}   {delivery[key + '_p50']:7.2f}   "
              f"{delivery[key + '_p95']:7.2f}")
    print(f"  contended / spread throughput: {delivery['ratio']:.2f}; "
          f"ledger matches the counts: {delivery['ledger_matches']}")
    figures = {
        "bench": "catalog", "campaigns": CAMPAIGNS, "listings": CAMPAIGNS * LISTINGS_PER_CAMPAIGN,
        "catalog_queries": catalog["queries"], "catalog_p50_ms": round(catalog["catalog_p50"], 2),
        "catalog_p95_ms": round(catalog["catalog_p95"], 2), "full_catalog_p95_ms": round(catalog["full_p95"], 2),
        "select1_p50_ms": round(catalog["select1_p50"], 3),
        "catalog_to_roundtrip_p50_ratio": round(catalog["catalog_p50"] / catalog["select1_p50"], 1),
        "catalog_target_met": catalog["catalog_p95"] <= TARGET_P95_MS,
        "delivery_consumers": CONSUMERS, "delivery_alone_p50_ms": round(delivery["alone_p50"], 2),
        "delivery_alone_per_s": round(delivery["alone_per_s"], 1),
        "delivery_spread_per_s": round(delivery["spread_per_s"], 1),
        "delivery_spread_p95_ms": round(delivery["spread_p95"], 2),
        "delivery_contended_per_s": round(delivery["contended_per_s"], 1),
        "delivery_contended_p95_ms": round(delivery["contended_p95"], 2),
        "contended_to_spread_ratio": round(delivery["ratio"], 2), "ledger_matches": delivery["ledger_matches"],
    }
    print(json.dumps(figures))
    return 0 if catalog["queries"] == 1 and delivery["ledger_matches"] else 1


if __name__ == "__main__":
    sys.exit(main())
