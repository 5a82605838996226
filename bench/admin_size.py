"""Benchmark: staff admin at size — the big lists, a lead's page and each dashboard.

    make bench NAME=admin_size        (runs .venv/bin/python bench/admin_size.py from the repo root)

1. Its own PostgreSQL database (bench_admin_<random> on 127.0.0.1: created, migrated, dropped).
   LEADS leads built by SQL (generate_series, not the ORM) over the last 90 days, spread over 4
   origins, 5 lenders and their campaigns, at every stage of the funnel; a decision per lead that
   got one (offers for the approved), a lender call per decided lead, applied postbacks for the
   approved and disbursed, and ledger charges for the campaign leads. Then ANALYZE.
2. The rollups: the first run (every day rebuilt) and an incremental run after 200 leads moved.
3. Each page ROUNDS times through Django's test client (the whole admin stack, one process, no
   network), as a superuser: the leads list filtered by lender and status, the search by exact
   tracking ID, a lead's page, the lender calls and postback events lists filtered by lender, and
   each dashboard over its default 30 days. Median and p95 per page, with the queries of one
   request and their time (the rest is Python: middleware, forms, templates).

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lifecycle import admin_execute, database_url, insert_series, timed  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")  # settings require one
LEADS = int(os.environ.get("BENCH_LEADS", "300000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
LENDERS, ORIGINS = 5, 4
# n % 10 → how far the lead got.
STATUS = ("CASE n % 10 WHEN 0 THEN 'new' WHEN 1 THEN 'new' WHEN 2 THEN 'awaiting_decision' "
          "WHEN 3 THEN 'decision_failed' WHEN 4 THEN 'not_eligible' WHEN 5 THEN 'offered' WHEN 6 THEN 'handed_off' "
          "WHEN 7 THEN 'handed_off' WHEN 8 THEN 'approved' ELSE 'disbursed' END")


def django_start(db_name: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.update({
        "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40), "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING", "REDIS_URL": REDIS_URL, "SANDBOX_ENABLED": "false",
        "DJANGO_SETTINGS_MODULE": "prosperas.settings", "ALLOWED_HOSTS": "testserver",
        "STAFF_OTP_REQUIRED": "false", "SESSION_COOKIE_SECURE": "false",
    })
    os.environ.pop("PYTEST_VERSION", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Static files as found (no collectstatic manifest here); the pages' other work is production's.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

    call_command("migrate", verbosity=0, interactive=False)


def _marketplace():
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from apps.campaigns.models import Campaign
    from apps.lenders.models import Lender
    from apps.listings.models import Listing
    from apps.origins.models import Origin
    from apps.products.models import Product

    origins = [Origin.objects.create(code=f"benchorigin{i}", name=f"Origin {i}", kind=Origin.Kind.WALLET)
               for i in range(ORIGINS)]
    lenders, products, listings, campaigns = [], [], [], []
    for i in range(LENDERS):
        lender = Lender.objects.create(code=f"bench-lender-{i}", name=f"Lender {i}", adapter="embedded",
                                       base_url="http://127.0.0.1:9/unused", postback_key=f"pk_bench_{i}",
                                       postback_secret=secrets.token_hex(16), credentials={"api_key": "k"})
        product = Product.objects.create(product_id=f"ln_personal_000{i}", lender=lender, name="Producto",
                                         kind="personal", min_amount=Decimal("500000"), max_amount=Decimal("20000000"),
                                         min_term_months=6, max_term_months=48, min_annual_rate=Decimal("0.18"),
                                         max_annual_rate=Decimal("0.32"))
        listings.append(Listing.objects.create(listing_id=f"lst_bench00000{i}", product=product, title="Oferta"))
        campaigns.append(Campaign.objects.create(name=f"Campaign {i}", lender=lender, product=product,
                                                 budget=Decimal("500000000"), daily_lead_cap=1000,
                                                 price_per_lead=Decimal("1000"),
                                                 starts_at=timezone.now() - timedelta(days=400)))
        lenders.append(lender)
        products.append(product)
    return origins, lenders, products, listings, campaigns


def _pick(objects, expression: str) -> str:
    """A CASE choosing the pk of objects[expression % len(objects)]."""
    whens = " ".join(f"WHEN {i} THEN {obj.pk}" for i, obj in enumerate(objects))
    return f"CASE ({expression}) % {len(objects)} {whens} END"


def data_create() -> None:
    from django.db import connection

    from apps.leads.models import Lead

    origins, lenders, products, listings, campaigns = _marketplace()
    age = "now() - ((n * 7919) % 90) * interval '1 day' - (n % 86400) * interval '1 second'"
    at = lambda floor, offset: f"CASE WHEN n % 10 >= {floor} THEN {age} + interval '{offset} seconds' END"  # noqa: E731
    insert_series(Lead, LEADS, {
        "tracking_id": f"'{origins[0].code}_' || md5(n::text)", "public_token": "md5('t' || n::text)",
        "origin_id": _pick(origins, "n / 7"), "lender_id": _pick(lenders, "n / 10"),
        "product_id": _pick(products, "n / 10"), "listing_id": _pick(listings, "n / 10"),
        "campaign_id": f"CASE WHEN n % 10 >= 3 THEN {_pick(campaigns, 'n / 10')} END",
        "status": STATUS, "created_at": age, "updated_at": age,
        "identity_at": at(2, 30), "decided_at": at(4, 35), "submitted_at": at(6, 60), "handed_off_at": at(6, 61),
        "lender_reference": "CASE WHEN n % 10 >= 6 THEN 'REF-' || n ELSE '' END",
    })
    statements = [
        # Decisions (approved from status offered on), offers for the approved.
        "INSERT INTO leads_decision (lead_id, lender_id, outcome, reason, lender_reference, created_at, updated_at) "
        "SELECT id, lender_id, CASE WHEN status = 'not_eligible' THEN 'rejected' ELSE 'approved' END, '', '', "
        "decided_at, decided_at FROM leads_lead WHERE decided_at IS NOT NULL",
        "INSERT INTO leads_offer (decision_id, lender_offer_id, amount, term_months, monthly_payment, annual_rate, "
        "currency, url) SELECT id, 'OF-1', 5000000, 24, 265000, 0.28, 'COP', '' FROM leads_decision "
        "WHERE outcome = 'approved'",
        # A call per lead that asked for a decision; failures for the failed.
        "INSERT INTO lenders_lendercall (lender_id, lead_id, capability, attempt, idempotency_key, outcome, "
        "http_status, error, request_method, request_url, request_body, response_body, started_at, finished_at, "
        "duration_ms) SELECT lender_id, id, 'prequalify', 1, 'k' || id, CASE status WHEN 'decision_failed' THEN "
        "'technical_failure' WHEN 'not_eligible' THEN 'rejected' ELSE 'approved' END, 200, '', 'POST', "
        "'http://127.0.0.1:9/x', '{}', '{}', identity_at, identity_at, 150 + (id * 7919) % 6500 "
        "FROM leads_lead WHERE status NOT IN ('new', 'awaiting_decision')",
        # Applied postbacks for the approved and the disbursed.
        "INSERT INTO postbacks_postbackevent (lender_id, lead_id, click_id, status, event_id, occurred_at, "
        "received_at, product_id, currency, reason, lender_reference, metadata, effect, looks_like, is_repeat, "
        "raw_body, headers, nonce, followed_up_at) SELECT lender_id, id, tracking_id, status, 'ev-' || id, "
        "handed_off_at + interval '1 day', handed_off_at + interval '1 day', '', '', '', '', '{}', 'applied', '', "
        "false, '\\x7b7d', '{}', 'nonce-' || id, handed_off_at FROM leads_lead WHERE status IN ('approved', 'disbursed')",
        # The ledger: a lead charge for each campaign lead.
        "INSERT INTO campaigns_ledgerentry (campaign_id, lead_id, origin_id, lender_id, kind, amount, list_price, "
        "currency, day, created_at) SELECT campaign_id, id, origin_id, lender_id, 'lead', 1000, 1000, 'COP', "
        "(created_at AT TIME ZONE 'America/Bogota')::date, created_at FROM leads_lead WHERE campaign_id IS NOT NULL",
        "ANALYZE",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def timings(client, url: str, params: dict | None = None) -> list[float]:
    client.get(url, params or {})  # warm up: templates compiled, caches filled
    seconds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(url, params or {})
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return seconds


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def pages() -> dict[str, tuple[str, dict]]:
    from apps.leads.models import Lead
    from apps.lenders.models import Lender

    lender = Lender.objects.order_by("pk").first()
    lead = Lead.objects.filter(status="handed_off").order_by("pk")[LEADS // 40]
    return {
        "leads_by_lender_status": ("/admin/leads/lead/", {"lender__id__exact": lender.pk, "status__exact": "handed_off"}),
        "leads_search_tracking_id": ("/admin/leads/lead/", {"q": lead.tracking_id}),
        "lead_page": (f"/admin/leads/lead/{lead.pk}/change/", {}),
        "lender_calls_by_lender": ("/admin/lenders/lendercall/", {"lender__id__exact": lender.pk}),
        "postback_events_by_lender": ("/admin/postbacks/postbackevent/", {"lender__id__exact": lender.pk}),
        "dashboard_funnel": ("/admin/reports/dashboard/funnel/", {}),
        "dashboard_lenders": ("/admin/reports/dashboard/lenders/", {}),
        "dashboard_postbacks": ("/admin/reports/dashboard/postbacks/", {}),
        "dashboard_campaigns": ("/admin/reports/dashboard/campaigns/", {}),
    }


def main() -> int:
    db_name = f"bench_admin_{secrets.token_hex(4)}"
    admin_execute(f'CREATE DATABASE "{db_name}"')
    try:
        django_start(db_name)
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from apps.leads.models import Lead
        from apps.reports.rollups import ROLLUPS, rollups_refresh

        _, build_seconds = timed(data_create)
        print(f"built {LEADS:,} leads (with decisions, calls, postbacks, ledger) in {build_seconds:.1f} s")
        first, first_seconds = timed(rollups_refresh)
        # What moves between two runs: mostly today's and yesterday's leads, and a few late events on
        # older ones (each rebuilds its lead's start day).
        recent = Lead.objects.filter(created_at__gte=timezone.now() - timezone.timedelta(days=2))
        moved = list(recent.order_by("pk").values_list("pk", flat=True)[:180])
        moved += list(Lead.objects.order_by("pk").values_list("pk", flat=True)[: LEADS : LEADS // 20])
        Lead.objects.filter(pk__in=moved).update(updated_at=timezone.now())
        later = timezone.now() + timezone.timedelta(minutes=5)
        kind_seconds = {kind: timed(rollups_refresh, now=later, kinds=[kind])[1] for kind in ROLLUPS}
        incremental_seconds = sum(kind_seconds.values())
        print(f"rollups: first run {first_seconds:.2f} s, days rebuilt {first}; incremental after {len(moved)} leads "
              f"moved {incremental_seconds:.2f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in kind_seconds.items()) + ")")

        user = get_user_model().objects.create_superuser("bench", password=secrets.token_urlsafe(16))
        client = Client()
        client.force_login(user)
        load = os.getloadavg()[0]
        print(f"load average (1 min) before timing: {load:.1f} on {os.cpu_count()} cores")
        figures = {"bench": "admin_size", "leads": LEADS, "rounds": ROUNDS, "load_average": round(load, 1), "rollup_first_s": round(first_seconds, 2),
                   "rollup_incremental_s": round(incremental_seconds, 2)}
        print(f"\n{'page':<28} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'SQL ms':>7}  slowest query")
        for name, (url, params) in pages().items():
            seconds = timings(client, url, params)
            median_ms, p95_ms = statistics.median(seconds) * 1000, p95(seconds) * 1000
            with CaptureQueriesContext(connection) as queries:
                client.get(url, params)
            sql_ms = sum(float(query["time"]) for query in queries.captured_queries) * 1000
            slowest = max(queries.captured_queries, key=lambda query: float(query["time"]))
            print(f"{name:<28} {median_ms:>10.1f} {p95_ms:>8.1f} {len(queries):>8} {sql_ms:>7.1f}  "
                  f"{float(slowest['time']) * 1000:.1f} ms {slowest['sql'][:90]}")
            figures[f"{name}_p95_ms"] = round(p95_ms, 1)
        connection.close()
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
