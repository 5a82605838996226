"""Benchmark: the platform with a year of data, side by side with the small database.

    make bench NAME=scale        (runs .venv/bin/python bench/scale.py from the repo root)
    BENCH_SCALE=0.01 make bench NAME=scale        (20,000 leads: a quick look while developing)

1. Two PostgreSQL databases on 127.0.0.1, built the same way by SQL (bench/scale_data/): the
   small one (SMALL_LEADS leads, the size the other benchmarks run on) and the big one, 2 million
   leads x BENCH_SCALE with 5 lender calls and 5 postback events per lead (10 million each at
   scale 1), decisions, offers, timeline events and the ledger, spread over a year; then
   VACUUM ANALYZE and the rollups' first run. Both are created and dropped by the run, unless
   BENCH_SCALE_KEEP=1: the big one is then kept (prosperas_scale_big_<leads>) and reused by the
   next run of the same scale, since the full build takes long. The build is timed; at scale
   below 1 the full build's time is extrapolated linearly.
2. A gunicorn per database (gthread 2 x 8, as docker-compose runs it), the same Redis (its own
   broker key prefix, cleared at the end); this process's Django switches between the two.
3. ROUNDS rounds (0: build only, kept with BENCH_SCALE_KEEP=1), each measuring each kind of
   figure on both databases, one right after the other (alternating which goes first):
   - signed postbacks at each of LEVELS concurrencies for SECONDS (bench/postbacks.py's load);
     the p99 at the small database's best concurrency (most postbacks/s within 100 ms p99);
   - every flow page's p95, CONSUMERS consumers with think time (bench/flow.py's journeys);
   - the catalog's p95 (bench/catalog.py's measure);
   - the lender sweep (the same WAITING leads due in both) and the postback follow-up task
     (FOLLOW_UPS fresh approvals in both): the median duration of a run;
   - the rollups' incremental refresh after the latest leads and 20 old ones moved (as
     bench/admin_size.py moves them);
   - admin through Django's test client (bench/admin_size.py's timing): the leads list by lender
     and status, the search by tracking ID, a lead's page, the lender call statistics, the funnel
     report, the calls and events lists and each dashboard: p95 of PAGE_REPEATS requests.
   The table shows each figure's median over the rounds and the ratio big / small; the goal is
   each ratio within 1.5. For the big database, each admin page's and task's queries are shown
   with the big tables a plan reads whole (EXPLAIN): what will grow with the history.

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The bench modules read their Redis at import: not db 0, which the demo and the tests use.
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

from bench import admin_size, catalog, flow, postbacks  # noqa: E402
from bench.lifecycle import admin_execute  # noqa: E402
from bench.scale_data import WAITING, database_fill, follow_ups_seed  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
BIG_LEADS = max(100, round(2_000_000 * SCALE / 100) * 100)
SMALL_LEADS = max(100, round(int(os.environ.get("BENCH_SMALL_LEADS", "2000")) / 100) * 100)
KEEP = os.environ.get("BENCH_SCALE_KEEP") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LEVELS = [int(level) for level in os.environ.get("BENCH_LEVELS", "4,8,16").split(",")]
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
CONSUMERS = int(os.environ.get("BENCH_CONSUMERS", "8"))
THINK_SECONDS = float(os.environ.get("BENCH_THINK_SECONDS", "0.2"))
PAGE_REPEATS = int(os.environ.get("BENCH_PAGE_REPEATS", "10"))
CATALOG_CALLS = int(os.environ.get("BENCH_CATALOG_CALLS", "100"))
FOLLOW_UPS, SWEEPS = 100, 5
GOAL_RATIO = 1.5
HIGHER_IS_BETTER = {"postbacks_rps"}
# One key for every run: a kept database's ciphertext and secrets stay readable by the next.
FIELD_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"prosperas scale bench").digest()).decode()
SECRET_KEY = "scale-bench-" + hashlib.sha256(b"prosperas scale bench secret").hexdigest()
BUILT_MARK = "bench_scale_built"  # a table in a finished big database


@dataclass
class Database:
    label: str
    name: str
    leads: int
    keep: bool = False
    build_seconds: dict[str, float] = field(default_factory=dict)
    process: object = None
    port: int = 0
    env: dict = field(default_factory=dict)
    origin: object = None
    listing_ids: list = field(default_factory=list)
    postbacks: object = None
    client: object = None
    pages: dict = field(default_factory=dict)


def site_environment(db_name: str, prefix: str) -> dict[str, str]:
    """bench/flow.py's site, with the bench's fixed keys, the admin's test host, postback limits
    out of reach (as bench/postbacks.py sets them) and emails kept in memory."""
    env = flow.site_environment(db_name, prefix)
    env.update({
        "FIELD_ENCRYPTION_KEYS": FIELD_KEY, "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "STAFF_OTP_REQUIRED": "false", "SESSION_COOKIE_SECURE": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LENDER_RATE_LIMIT_PER_ADDRESS": "10000000/10s", "LENDER_RATE_LIMIT_PER_KEY": "10000000/10s",
    })
    return env


def use(database: Database) -> None:
    """Point this process's Django (every thread's connection) at `database`."""
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    connections.close_all()
    connections["default"].close_pool()  # the pool (settings.py) holds connections to the last one
    settings.DATABASES["default"]["NAME"] = database.name
    connections["default"].settings_dict["NAME"] = database.name
    ContentType.objects.clear_cache()


def _built(name: str) -> bool:
    import psycopg

    with psycopg.connect(flow.database_url(name), autocommit=True) as connection:
        return connection.execute("SELECT to_regclass(%s) IS NOT NULL", [BUILT_MARK]).fetchone()[0]


def _database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(flow.ADMIN_DATABASE_URL, autocommit=True) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def prepare(database: Database) -> None:
    """Create, migrate and fill the database (or find a kept one built before); rollups' first run."""
    from django.core.management import call_command
    from django.db import connection

    from apps.reports.rollups import rollups_refresh

    if database.keep and _database_exists(database.name) and _built(database.name):
        print(f"{database.label}: reusing the kept database {database.name}", flush=True)
        use(database)
        call_command("migrate", verbosity=0, interactive=False)
        rollups_refresh()  # what a migration since the build asked to count again, outside the rounds
        return
    if _database_exists(database.name):
        admin_execute(f'DROP DATABASE "{database.name}" WITH (FORCE)')  # a kept build that never finished
    admin_execute(f'CREATE DATABASE "{database.name}"')
    use(database)
    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    database.build_seconds["migrate"] = time.perf_counter() - began
    database.build_seconds.update(database_fill(database.leads, database.label))
    began = time.perf_counter()
    rollups_refresh()
    database.build_seconds["rollups_first_run"] = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BUILT_MARK} (leads bigint)")
        cursor.execute(f"INSERT INTO {BUILT_MARK} VALUES (%s)", [database.leads])
    total = sum(database.build_seconds.values())
    print(f"{database.label}: built {database.leads:,} leads in {total:.1f} s ("
          + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in database.build_seconds.items()) + ")", flush=True)


def serve(database: Database, prefix: str) -> None:
    """Its gunicorn, the flow's origin and listings, a lender's postbacks, a logged-in admin client."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from apps.leads.models import Lead
    from apps.lenders.models import Lender
    from apps.listings.models import Listing
    from apps.origins.models import Origin

    use(database)
    database.env = site_environment(database.name, prefix)
    database.process, database.port = flow.gunicorn_start(database.env, ROOT / "var" / f"bench-scale-{database.label}.log")
    _answers(database.port)
    database.origin = Origin.objects.order_by("pk").first()
    database.listing_ids = list(Listing.objects.order_by("pk").values_list("listing_id", flat=True))
    lender = Lender.objects.order_by("pk").first()
    handed_off = Lead.objects.filter(lender=lender, status="handed_off").order_by("pk")
    database.postbacks = postbacks.Postbacks(key=lender.postback_key, secret=lender.postback_secret,
                                             tracking_ids=list(handed_off.values_list("tracking_id", flat=True)[:5000]))
    database.client = Client()
    database.client.force_login(get_user_model().objects.get(username="bench"))
    database.pages = admin_pages(lender, Lender.objects.order_by("pk")[1])


def _answers(port: int, seconds: float = 180) -> None:
    """Wait for the workers, not only the master: booting them on a loaded machine takes a while."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/live", timeout=seconds).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn on port {port} did not answer /health/live within {seconds:g} s")


def admin_pages(lender, listed) -> dict[str, tuple[str, dict]]:
    """The admin pages measured. The leads list is filtered on another lender's handed-off leads
    (`listed`): the postback rounds move `lender`'s on, and in the small database they are
    nearly all of them, which left its list almost empty."""
    from apps.leads.models import Lead

    # A disbursed lead from the middle of the table: a whole history of calls and events.
    lead = Lead.objects.filter(status="disbursed").order_by("pk")[Lead.objects.filter(status="disbursed").count() // 2]
    return {
        "admin_leads_by_lender_status": ("/admin/leads/lead/", {"lender__id__exact": listed.pk,
                                                                "status__exact": "handed_off"}),
        "admin_leads_search_tracking_id": ("/admin/leads/lead/", {"q": lead.tracking_id}),
        "admin_lead_page": (f"/admin/leads/lead/{lead.pk}/change/", {}),
        "admin_lender_stats_24h": ("/admin/lenders/lender/stats/", {"window": "24h"}),
        "admin_lender_stats_7d": ("/admin/lenders/lender/stats/", {"window": "7d"}),
        "admin_funnel_report": ("/admin/leads/lead/funnel-report/", {}),
        "admin_lender_calls_by_lender": ("/admin/lenders/lendercall/", {"lender__id__exact": lender.pk}),
        "admin_postback_events_by_lender": ("/admin/postbacks/postbackevent/", {"lender__id__exact": lender.pk}),
        "dashboard_funnel": ("/admin/reports/dashboard/funnel/", {}),
        "dashboard_lenders": ("/admin/reports/dashboard/lenders/", {}),
        "dashboard_postbacks": ("/admin/reports/dashboard/postbacks/", {}),
        "dashboard_campaigns": ("/admin/reports/dashboard/campaigns/", {}),
    }


# --- One round's figures of one database --------------------------------------------------------------


def postback_levels(database: Database, round_number: int) -> dict[int, object]:
    runs = {}
    for level in LEVELS:
        run = postbacks.load_run(port=database.port, path="/api/v1/postbacks", target="postbacks", concurrency=level,
                                 seconds=SECONDS, postbacks=database.postbacks, phase=f"{database.label}{round_number}")
        bad = {status: count for status, count in run.statuses.items() if not 200 <= status < 300}
        if bad or run.errors:
            raise RuntimeError(f"postbacks at {level} on {database.label}: answers {bad}, errors {run.errors}")
        runs[level] = run
    return runs


def flow_pages(database: Database) -> dict[str, float]:
    timings = flow.round_run(database.port, database.origin, database.listing_ids, consumers=CONSUMERS,
                             think=THINK_SECONDS)
    return {f"flow_{page}_p95_ms": flow.percentile(timings[page], 0.95) for page in flow.PAGES}


def task_durations() -> dict[str, float]:
    from django.db.models import Max, Min
    from django.utils import timezone

    from apps.leads.engine.sweep import lender_work_sweep
    from apps.leads.models import Lead, LeadStatus
    from apps.postbacks.services import postback_follow_ups_run
    from apps.reports.rollups import rollups_refresh

    sweeps = []
    for _ in range(SWEEPS):
        began = time.perf_counter()
        enqueued = lender_work_sweep()
        sweeps.append((time.perf_counter() - began) * 1000)
        assert enqueued >= WAITING, f"the sweep found {enqueued} pieces of work, expected {WAITING} at least"
    follow_ups_seed(FOLLOW_UPS)
    began = time.perf_counter()
    done = postback_follow_ups_run()
    follow_up_ms = (time.perf_counter() - began) * 1000
    assert done == FOLLOW_UPS, f"the follow-up task did {done}, expected {FOLLOW_UPS}"
    rollups_refresh()  # catch up with the round's load, untimed
    # Then what moves between two runs (as bench/admin_size.py moves it): the latest leads and a
    # few old ones (a late event each); each rebuilds its lead's start day.
    later = timezone.now() + timedelta(minutes=5)
    moved = list(Lead.objects.filter(created_at__gte=timezone.now() - timedelta(days=2))
                 .exclude(status=LeadStatus.AWAITING_DECISION)  # the sweep's work stays due
                 .order_by("-pk").values_list("pk", flat=True)[:180])
    bounds = Lead.objects.aggregate(low=Min("pk"), high=Max("pk"))
    moved += [bounds["low"] + n * (bounds["high"] - bounds["low"]) // 20 for n in range(20)]
    Lead.objects.filter(pk__in=moved).update(updated_at=timezone.now())
    began = time.perf_counter()
    rollups_refresh(now=later)
    return {"sweep_ms": statistics.median(sweeps), f"follow_up_{FOLLOW_UPS}_events_ms": follow_up_ms,
            "rollups_refresh_ms": (time.perf_counter() - began) * 1000}


def admin_figures(database: Database) -> dict[str, float]:
    admin_size.ROUNDS = PAGE_REPEATS
    return {f"{name}_p95_ms": admin_size.p95(admin_size.timings(database.client, url, params)) * 1000
            for name, (url, params) in database.pages.items()}


BIG_TABLES = {"leads_lead", "leads_decision", "leads_offer", "leads_leadevent", "lenders_lendercall",
              "postbacks_postbackevent", "campaigns_ledgerentry"}


def _seq_scans(plan: dict) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" and plan.get(
        "Relation Name") in BIG_TABLES else []
    return found + [table for child in plan.get("Plans", []) for table in _seq_scans(child)]


def query_notes(database: Database) -> dict[str, str]:
    """Per admin page and task on `database`: its queries, the slowest, and every big table that
    a query's plan reads whole (a sequential scan: a figure that grows with the history)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.leads.engine.sweep import lender_work_sweep
    from apps.postbacks.services import postback_follow_ups_run
    from apps.reports.rollups import rollups_refresh

    calls = {name: (lambda url=url, params=params: database.client.get(url, params))
             for name, (url, params) in database.pages.items()}
    calls.update({"sweep": lender_work_sweep, "follow_up": postback_follow_ups_run, "rollups_refresh": rollups_refresh})
    notes = {}
    for name, call in calls.items():
        with CaptureQueriesContext(connection) as queries:
            call()
        scans = set()
        for query in queries.captured_queries:
            if query["sql"].lstrip().upper().startswith("SELECT"):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
                    plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                scans.update(_seq_scans(plan[0]["Plan"]))
        slowest = max(queries.captured_queries, key=lambda query: float(query["time"]), default=None)
        notes[name] = (f"{len(queries)} queries" + (f", slowest {float(slowest['time']) * 1000:.0f} ms"
                                                     if slowest else "")
                       + (f"; reads whole: {', '.join(sorted(scans))}" if scans else ""))
    return notes


def catalog_figures(database: Database) -> dict[str, float]:
    catalog.ROUNDS, catalog.CALLS, catalog.FULL_CALLS = 1, CATALOG_CALLS, 5
    return {"catalog_p95_ms": catalog.catalog_bench(database.origin)["catalog_p95"]}


# Each round measures one kind of figure on both databases before the next kind: the two sides
# of a ratio are taken moments apart, under the same load from the rest of the machine.
PHASES = (flow_pages, catalog_figures, lambda database: task_durations(), admin_figures)


def round_measure(databases: tuple[Database, ...], round_number: int, figures: dict, runs: dict) -> None:
    for database in databases:
        use(database)
        for level, run in postback_levels(database, round_number).items():
            runs[database.label][level].append(run)
    for phase in PHASES:
        for database in databases:
            use(database)
            for name, value in phase(database).items():
                figures[database.label].setdefault(name, []).append(value)


# --- The run ----------------------------------------------------------------------------------------


def django_start(database: Database, prefix: str) -> None:
    os.environ.update(site_environment(database.name, prefix))
    os.environ.pop("PYTEST_VERSION", None)
    import django

    django.setup()
    from django.core.management import call_command

    # DEBUG off serves hashed static files from the manifest, as the Docker image builds it.
    call_command("collectstatic", verbosity=0, interactive=False)


def cleanup(databases: list[Database], prefix: str) -> None:
    import redis

    for database in databases:
        if database.process is not None:
            database.process.terminate()
            database.process.wait(timeout=15)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may never have been set up
        pass
    for database in databases:
        if not database.keep:
            admin_execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
    client = redis.Redis.from_url(flow.REDIS_URL)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def results(figures: dict[str, dict[str, list[float]]], runs: dict[str, dict[int, list]]) -> dict[str, dict]:
    """Each figure's median over the rounds for both databases, and their ratio."""
    rows = {}
    levels = {label: [{"concurrency": level,
                       "postbacks_rps": statistics.median(run.rps for run in level_runs),
                       "postbacks_p99_ms": statistics.median(run.p99_ms for run in level_runs)}
                      for level, level_runs in by_level.items()] for label, by_level in runs.items()}
    best = postbacks.best_row(levels["small"])
    for label in ("small", "big"):
        row = next(row for row in levels[label] if row["concurrency"] == best["concurrency"])
        figures[label]["postbacks_p99_ms"] = [row["postbacks_p99_ms"]]
        figures[label]["postbacks_rps"] = [row["postbacks_rps"]]
    for name in ["postbacks_p99_ms", "postbacks_rps", *[name for name in figures["small"] if
                                                         not name.startswith("postbacks_")]]:
        small, big = statistics.median(figures["small"][name]), statistics.median(figures["big"][name])
        ratio = big / small if small else float("inf")
        within = ratio >= 1 / GOAL_RATIO if name in HIGHER_IS_BETTER else ratio <= GOAL_RATIO
        rows[name] = {"small": round(small, 2), "big": round(big, 2), "ratio": round(ratio, 2), "within_goal": within}
    rows["postbacks_p99_ms"]["concurrency"] = best["concurrency"]
    return rows


def main() -> int:
    run_tag = secrets.token_hex(4)
    prefix = f"bench-scale-{run_tag}:"
    small = Database("small", f"prosperas_scale_small_{run_tag}", SMALL_LEADS)
    big = Database("big", f"prosperas_scale_big_{BIG_LEADS}" if KEEP else f"prosperas_scale_big_{run_tag}", BIG_LEADS,
                   keep=KEEP)
    (ROOT / "var").mkdir(exist_ok=True)
    try:
        django_start(small, prefix)  # connects to nothing yet: prepare() creates each database
        prepare(small)
        prepare(big)
        if not ROUNDS:
            return report(small, big, {}, {})
        for database in (small, big):
            serve(database, prefix)
        # Postbacks for as many leads in both: each cycles its leads through pre-approved, approved
        # and disbursed, and a lead at the ladder's end takes the next ones as repeats, far cheaper
        # than a status applied. With the small database's hundred leads against the big one's
        # 5,000, the big one applied every postback while the small one mostly stored repeats.
        shared = min(len(small.postbacks.tracking_ids), len(big.postbacks.tracking_ids))
        for database in (small, big):
            database.postbacks.tracking_ids = database.postbacks.tracking_ids[:shared]
        print(f"\nBoth served; {ROUNDS} rounds: postbacks at {LEVELS} for {SECONDS:g} s, {CONSUMERS} consumers' "
              f"journeys, catalog x {CATALOG_CALLS}, sweep x {SWEEPS}, follow-up of {FOLLOW_UPS}, "
              f"admin pages x {PAGE_REPEATS}", flush=True)
        for database in (small, big):  # warm-up: imports, connections, template caches
            use(database)
            flow.round_run(database.port, database.origin, database.listing_ids[:2], consumers=1, think=0)
            postbacks.load_run(port=database.port, path="/api/v1/postbacks", target="warm-up", concurrency=4,
                               seconds=1, postbacks=database.postbacks, phase=f"warm{database.label}")
        figures = {"small": {}, "big": {}}
        runs = {"small": {level: [] for level in LEVELS}, "big": {level: [] for level in LEVELS}}
        for round_number in range(1, ROUNDS + 1):
            round_measure((small, big) if round_number % 2 else (big, small), round_number, figures, runs)
            print(f"  round {round_number}/{ROUNDS} done (load average {os.getloadavg()[0]:.1f})", flush=True)
        use(big)
        slow = query_notes(big)
    finally:
        cleanup([small, big], prefix)
    return report(small, big, results(figures, runs), slow)


def report(small: Database, big: Database, rows: dict[str, dict], slow: dict[str, str]) -> int:
    build = sum(big.build_seconds.values())
    # Migrating takes as long whatever the size; every other step grows with the rows.
    grows = build - big.build_seconds.get("migrate", 0.0)
    estimate = big.build_seconds.get("migrate", 0.0) + grows * 2_000_000 / BIG_LEADS if build else None
    print(f"\nsmall: {SMALL_LEADS:,} leads; big: {BIG_LEADS:,} leads (scale {SCALE:g}), "
          f"{BIG_LEADS * 5:,} lender calls, {BIG_LEADS * 5:,} postback events")
    if build:
        print(f"big build: {build:.1f} s; the full 2,000,000 leads, extrapolated linearly: {estimate / 60:.0f} min")
    print(f"\n{'figure (median of ' + str(ROUNDS) + ' rounds)':<44} {'small':>9} {'big':>9} {'big/small':>9}  "
          f"goal <= {GOAL_RATIO:g}")
    for name, row in rows.items():
        note = " (higher is better)" if name in HIGHER_IS_BETTER else ""
        if name == "postbacks_p99_ms":
            note = f" (at concurrency {row['concurrency']})"
        print(f"{name:<44} {row['small']:>9.1f} {row['big']:>9.1f} {row['ratio']:>9.2f}  "
              f"{'ok' if row['within_goal'] else 'OVER'}{note}")
    if not rows:
        print("BENCH_ROUNDS=0: built, nothing measured.")
    print("\nOn the big database (plans by EXPLAIN; 'reads whole' is a sequential scan of a big table):")
    for name, text in slow.items():
        print(f"  {name}: {text}")
    over = [name for name, row in rows.items() if not row["within_goal"]]
    print(f"\n{len(rows) - len(over)} of {len(rows)} figures within {GOAL_RATIO:g}x" + (
        f"; over: {', '.join(over)}" if over else ""))
    print(json.dumps({
        "bench": "scale", "scale": SCALE, "small_leads": SMALL_LEADS, "big_leads": BIG_LEADS, "rounds": ROUNDS,
        "big_build_s": round(build, 1) if build else None,
        "big_build_steps_s": {step: round(seconds, 1) for step, seconds in big.build_seconds.items()},
        "full_build_estimate_s": round(estimate) if estimate else None, "goal_ratio": GOAL_RATIO,
        "all_within_goal": not over, "over_goal": over, "figures": rows,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
