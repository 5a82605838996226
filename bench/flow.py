"""Benchmark: server time per page of the hosted consumer flow, 20 consumers at once.

    make bench NAME=flow        (runs .venv/bin/python bench/flow.py from the repo root)

Everything on loopback, bounded (about a minute), cleaned up at the end:

1. Its own PostgreSQL database (bench_flow_<random> on 127.0.0.1: created, migrated, dropped),
   one origin with LISTINGS listings of as many lenders (the catalog has something to rank).
2. gunicorn as docker-compose runs it (gthread, 2 workers x 8 threads), DEBUG off (static files
   collected into staticfiles/, git-ignored, as the Docker image does), the real
   middleware (sessions in PostgreSQL, CSRF, CSP, rate limits in Redis, raised so as not to trip).
3. CONSUMERS threads, each a browser session (cookies, CSRF tokens read from the forms, a random
   pause of mean THINK_SECONDS before each click, as a person reading), walk
   JOURNEYS_EACH journeys: catalog, start, identity (GET, POST), decision (waiting), the poll,
   decision (offers), offer, details (GET, POST), hand-off, status. The lender's side is left
   out: the bench process records the decision and the submission itself (the services the
   lender engine calls), so every timed request is the platform's own work. The Celery tasks
   the flow enqueues go to Redis under the bench's own key prefix and are never run.
4. Side by side: one consumer alone without pauses (a page's own cost), then ROUNDS rounds of the
   20; per page the p50 and p95 of each round, and their medians. Target: p95 <= 50 ms.

Times are measured by the client on loopback: the server's time plus a loopback round trip.
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CONSUMERS = int(os.environ.get("BENCH_CONSUMERS", "20"))
JOURNEYS_EACH = int(os.environ.get("BENCH_JOURNEYS_EACH", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LISTINGS = int(os.environ.get("BENCH_LISTINGS", "20"))
# A consumer reads each page before the next click: a pause (random, mean THINK_SECONDS) between
# requests. With none, 20 closed-loop clients measure the saturated queue, not a page's time.
THINK_SECONDS = float(os.environ.get("BENCH_THINK_SECONDS", "0.5"))
WORKERS, THREADS = 2, 8
TARGET_P95_MS = 50.0
PAGES = ("catalog", "start", "identity", "identity_post", "decision_waiting", "state", "decision_offers",
         "offer_post", "details", "details_post", "handoff", "status")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDENTITY = {"document_type": "CC", "document_number": "1020304050", "full_name": "Ana María Pérez",
            "monthly_income": "3.500.000", "accept_terms": "on", "accept_privacy": "on",
            "accept_data_processing": "on"}


def database_url(name: str) -> str:
    return urlsplit(ADMIN_DATABASE_URL)._replace(path=f"/{name}").geturl()


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        connection.execute(sql)


def site_environment(db_name: str, prefix: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ, "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING", "SANDBOX_ENABLED": "false", "SECURE_COOKIES": "false",
        "REDIS_URL": REDIS_URL, "CELERY_BROKER_KEYPREFIX": prefix,
        "FLOW_RATE_LIMIT_START": "100000/m", "FLOW_RATE_LIMIT_POST": "100000/m",
        "DJANGO_SETTINGS_MODULE": "prosperas.settings", "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_VERSION", None)
    return env


def data_create(env: dict[str, str]):
    """Migrate, then the shop: one origin, LISTINGS lenders each with a product, listing, campaign."""
    os.environ.update({name: env[name] for name in (
        "DATABASE_URL", "DEBUG", "SECURE_SSL_REDIRECT",
        "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "LOG_LEVEL",
        "SANDBOX_ENABLED", "REDIS_URL", "CELERY_BROKER_KEYPREFIX", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from django.core.management import call_command

    from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish

    call_command("migrate", verbosity=0, interactive=False)
    # DEBUG off serves hashed static files from the manifest, as the Docker image builds it.
    call_command("collectstatic", verbosity=0, interactive=False)
    origin = OriginFactory(code="benchflow", name="Bench flow", prefix_tracking_ids=True)
    for n in range(LISTINGS):
        lender = LenderFactory(code=f"bench{n}", name=f"Banco {n}", base_url="http://127.0.0.1:9/unused")
        publish(listing=ListingFactory(product=ProductFactory(lender=lender), title=f"Crédito {n}"), origin=origin)
    return origin


def gunicorn_start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, int]:
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "prosperas.wsgi:application", "--bind", "127.0.0.1:0",
         "--worker-class", "gthread", "--workers", str(WORKERS), "--threads", str(THREADS),
         "--graceful-timeout", "5", "--timeout", "30", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start; see {log_path}")
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if found:
            return process, int(found.group(1))
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not become ready; see {log_path}")


class Browser:
    """One consumer's session: cookies kept, CSRF token read from the last page, every request timed."""

    def __init__(self, port: int, timings: dict[str, list[float]], think: float = THINK_SECONDS) -> None:
        import random

        import requests

        self.think = think
        self.random = random.Random()

        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.timings = timings
        self.csrf = ""

    def _timed(self, page: str, method: str, path: str, expect: int, data: dict | None = None):
        if self.think:
            time.sleep(self.random.uniform(0, 2 * self.think))
        started = time.perf_counter()
        response = self.session.request(method, self.base + path, data=data, allow_redirects=False, timeout=30)
        self.timings[page].append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            raise RuntimeError(f"{page}: {method} {path} answered {response.status_code}, expected {expect}")
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, page: str, path: str, expect: int = 200):
        return self._timed(page, "GET", path, expect)

    def post(self, page: str, path: str, data: dict, expect: int = 303):
        return self._timed(page, "POST", path, expect, {**data, "csrfmiddlewaretoken": self.csrf})


def journey(browser: Browser, origin, listing_id: str) -> None:
    from apps.leads.engine.results import decision_record, submission_record
    from apps.leads.models import Lead
    from apps.lenders.adapters.base import Decision, DecisionResult, Offer, SubmissionResult

    browser.get("catalog", f"/o/{origin.code}/")
    started = browser.post("start", f"/o/{origin.code}/start", {"listing_id": listing_id})
    token = started.headers["Location"].split("/")[2]
    browser.get("identity", f"/j/{token}/identity")
    browser.post("identity_post", f"/j/{token}/identity", IDENTITY)
    browser.get("decision_waiting", f"/j/{token}/decision")
    browser.get("state", f"/j/{token}/state")
    lead = Lead.objects.only("id", "lender_id").get(public_token=token)
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=DecisionResult(
        decision=Decision.APPROVED, offers=tuple(
            Offer(lender_offer_id=f"OF-{n}", amount=Decimal(5_000_000 + n * 1_000_000), term_months=24,
                  monthly_payment=Decimal(265_000 + n * 50_000), annual_rate=Decimal("0.2850"))
            for n in range(3))))
    page = browser.get("decision_offers", f"/j/{token}/decision").text
    offer_id = re.search(r'name="offer" value="(\d+)"', page).group(1)
    browser.post("offer_post", f"/j/{token}/offer", {"offer": offer_id})
    browser.get("details", f"/j/{token}/details")
    browser.post("details_post", f"/j/{token}/details", {"email": "ana@example.com", "phone": "3001234567"})
    submission_record(lead_id=lead.pk, result=SubmissionResult(
        status="submitted", redirect_url="https://lender.example/sign?ref=1"))
    browser.get("handoff", f"/j/{token}/handoff", expect=302)
    browser.get("status", f"/j/{token}/status")


def round_run(port: int, origin, listing_ids: list[str], consumers: int = CONSUMERS,
              think: float = THINK_SECONDS) -> dict[str, list[float]]:
    from django.db import connection

    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()

    def consumer(index: int) -> None:
        browser = Browser(port, defaultdict(list), think)
        try:
            for n in range(JOURNEYS_EACH):
                journey(browser, origin, listing_ids[(index + n) % len(listing_ids)])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(str(exc))
        finally:
            connection.close()
        with lock:
            for page, values in browser.timings.items():
                timings[page].extend(values)

    threads = [threading.Thread(target=consumer, args=(i,)) for i in range(consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} consumers failed; first: {errors[0]}")
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cleanup(process: subprocess.Popen | None, db_name: str, prefix: str) -> None:
    if process is not None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may never have been set up
        pass
    admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)
    shutil.rmtree(ROOT / "var" / "bench-flow-unused", ignore_errors=True)


def main() -> int:
    db_name = f"bench_flow_{secrets.token_hex(4)}"
    prefix = f"bench-flow-{secrets.token_hex(4)}:"
    process = None
    admin_execute(f'CREATE DATABASE "{db_name}"')
    try:
        env = site_environment(db_name, prefix)
        origin = data_create(env)
        from apps.listings.models import Listing

        listing_ids = list(Listing.objects.values_list("listing_id", flat=True))
        (ROOT / "var").mkdir(exist_ok=True)
        process, port = gunicorn_start(env, ROOT / "var" / "bench-flow-gunicorn.log")
        print(f"Setup: database {db_name}, {LISTINGS} listings, gunicorn gthread {WORKERS}x{THREADS} on port {port}; "
              f"{CONSUMERS} consumers x {JOURNEYS_EACH} journeys x {ROUNDS} rounds, "
              f"think time mean {THINK_SECONDS:g} s "
              "(lender calls excluded)")
        round_run(port, origin, listing_ids[:2], think=0)  # warm-up: imports, connections, template caches
        solo = round_run(port, origin, listing_ids, consumers=1, think=0)  # one consumer: a page's own cost
        rounds = [round_run(port, origin, listing_ids) for _ in range(ROUNDS)]
    finally:
        cleanup(process, db_name, prefix)

    rows = []
    for page in PAGES:
        p50 = statistics.median(percentile(r[page], 0.50) for r in rounds)
        p95 = statistics.median(percentile(r[page], 0.95) for r in rounds)
        rows.append({"page": page, "requests_per_round": len(rounds[0][page]), "p50_ms": round(p50, 1),
                     "p95_ms": round(p95, 1), "solo_p50_ms": round(percentile(solo[page], 0.5), 1),
                     "meets_target": p95 <= TARGET_P95_MS})
    print(f"\n{'page':<18} {'req/round':>9} {'solo p50':>9} {'p50 ms':>8} {'p95 ms':>8}  "
          f"target p95 <= {TARGET_P95_MS:g} ms")
    for row in rows:
        print(f"{row['page']:<18} {row['requests_per_round']:>9} {row['solo_p50_ms']:>9} {row['p50_ms']:>8} "
              f"{row['p95_ms']:>8}  {'ok' if row['meets_target'] else 'MISSED'}")
    worst = max(rows, key=lambda row: row["p95_ms"])
    print(f"\nWorst page: {worst['page']} p95 {worst['p95_ms']} ms (median of {ROUNDS} rounds).")
    print(json.dumps({"bench": "flow", "consumers": CONSUMERS, "rounds": ROUNDS, "think_seconds": THINK_SECONDS,
                      "target_p95_ms": TARGET_P95_MS,
                      "pages": rows, "all_meet_target": all(row["meets_target"] for row in rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
