"""Benchmark: compare-mode fan-out, from identity submitted to every lender's decision stored.

    make bench NAME=fanout        (runs .venv/bin/python bench/fanout.py from the repo root)

K sandbox lenders (embedded style) each answer after L = 2 s (their latency knob). One journey
in compare mode asks all K at once (apps.leads.services.journey_compare_request, the call the
hosted flow makes once identity is given); the clock stops when all K decisions are stored.
The ratio of that time to L says how well the calls run side by side: 1.0 would be perfect.
Targets on this 2-core machine: <= 1.2 at K = 30, <= 1.5 at K = 100.

The platform runs as in production, all on loopback, bounded (about three minutes) and cleaned up:
- its own PostgreSQL database (bench_fanout_<random> on 127.0.0.1: created, migrated, dropped);
- gunicorn (gthread, 2 workers x 64 threads) serving the platform, whose sandbox plays the K
  lenders: a slow answer holds a server thread but no database connection;
- real Celery workers on Redis (keys of its own prefix) with the threads pool and the
  lender_calls and default queues, in two deployments measured side by side in one run: one
  worker process of 120 threads, and two of 60 (a threads pool runs its Python on one core at
  a time; a second process puts the second core to work). Each lender task holds one of the
  process's DATABASE_POOL_MAX_SIZE pooled connections only while it uses the database
  (prosperas/db.py), so 120 waiting threads need 16 connections, far below PostgreSQL's
  max_connections (100).

ROUNDS rounds per K; the table shows medians. "Overhead per call" is the platform's own time per
lender call, not spent waiting on the lender: the median over calls of (decision stored - asked)
minus L, split into the wait for a worker thread (asked -> call started) and the rest (the
claim, the request, the HTTP round trip beyond L, recording). "Lender beyond L" is how much
longer than L the sandbox took to answer, as our HTTP client timed the call (its own checks and
rows: a real lender's time), and "platform only" is the overhead without it. The last line is
one JSON object.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
KS = [int(k) for k in os.environ.get("BENCH_KS", "1,10,30,100").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "2.0"))
# (label, worker processes, threads each): 120 threads in all either way.
DEPLOYMENTS = [("1 worker x 120 threads", 1, 120), ("2 workers x 60 threads", 2, 60)]
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 64
TARGETS = {30: 1.2, 100: 1.5}
ROUND_TIMEOUT_S = 30
VERBOSE = os.environ.get("BENCH_VERBOSE") == "1"  # print each round's timeline


def database_url(name: str) -> str:
    return urlsplit(ADMIN_DATABASE_URL)._replace(path=f"/{name}").geturl()


def admin_execute(sql: str):
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else None


def site_environment(db_name: str, broker_prefix: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "prosperas.settings", "LOG_LEVEL": "WARNING", "SANDBOX_ENABLED": "true",
        "REDIS_URL": REDIS_URL, "CELERY_BROKER_KEYPREFIX": broker_prefix, "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_VERSION", None)  # production timeouts and backoff, not the tests' shortened ones
    return env


def start(command: list[str], env: dict[str, str], log_path: Path, ready: re.Pattern[str]) -> tuple[subprocess.Popen, str]:
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[2]} exited at start; see {log_path}")
        found = ready.search(log_path.read_text())
        if found:
            return process, found.group(0)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command[2]} did not become ready; see {log_path}")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def data_create(env: dict[str, str], port: int, count: int) -> list:
    """Migrate, then `count` sandbox lenders (latency L), each with a product, a listing and a
    campaign published to one origin: the catalog entries a compare-mode journey asks."""
    os.environ.update({name: env[name] for name in (
        "DATABASE_URL", "DEBUG", "SECURE_SSL_REDIRECT",
        "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE",
        "LOG_LEVEL", "SANDBOX_ENABLED", "REDIS_URL", "CELERY_BROKER_KEYPREFIX")})
    import django

    django.setup()
    from django.core.management import call_command

    from apps.campaigns.catalog import CatalogEntry
    from apps.sandbox.models import SandboxLenderSettings
    from tests.factories import LenderFactory, ListingFactory, OriginFactory, publish

    call_command("migrate", verbosity=0, interactive=False)
    origin = OriginFactory(code="benchorigin")
    entries = []
    for number in range(count):
        code = f"bench-{number:03d}"
        lender = LenderFactory(code=code, base_url=f"http://127.0.0.1:{port}/sandbox/embedded/{code}")
        SandboxLenderSettings.objects.create(lender=lender, latency_ms=int(LATENCY_S * 1000))
        listing = ListingFactory(product__lender=lender)
        entries.append(CatalogEntry(listing=listing, campaign=publish(listing=listing, origin=origin)))
    return entries


def one_round(entries: list) -> dict:
    """One compare-mode journey asking len(entries) lenders: seconds until every decision is stored."""
    from django.db import connection, transaction

    from apps.leads import services as lead_services
    from apps.leads.models import Decision
    from apps.lenders.models import LenderCall
    from tests.factories import CONSUMER_IDENTITY, LeadFactory

    lead = LeadFactory(origin=entries[0].campaign.origins.first(), compare_mode=True, lender=None, listing=None,
                       product=None, **CONSUMER_IDENTITY)
    asked_at = time.time()
    with transaction.atomic():  # as the flow's view does: the tasks are enqueued when it commits
        lead_services.journey_compare_request(lead=lead, entries=entries)
    enqueued_ms = (time.time() - asked_at) * 1000
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while Decision.objects.filter(lead=lead).count() < len(entries):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {Decision.objects.filter(lead=lead).count()} of {len(entries)} decisions stored")
        time.sleep(0.02)
    stored = list(Decision.objects.filter(lead=lead).values_list("lender_id", "created_at"))
    done_at = max(created.timestamp() for _, created in stored)
    made = LenderCall.objects.filter(lead=lead, capability="prequalify").values_list(
        "lender_id", "started_at", "duration_ms")
    calls = {lender_id: started for lender_id, started, _ in made}
    # How long each lender took beyond L, as our HTTP client timed the call: the sandbox's own work
    # (its checks, its row) is the lender's time, not the platform's, though "overhead" counts it.
    lender_ms = [duration - LATENCY_S * 1000 for _, _, duration in made if duration is not None]
    connection.close()
    if VERBOSE:
        starts = sorted(round((at.timestamp() - asked_at) * 1000) for at in calls.values())
        ends = sorted(round((at.timestamp() - asked_at) * 1000) for _, at in stored)
        print(f"  K={len(entries)}: all enqueued at {enqueued_ms:.0f} ms; calls started at {starts} ms; "
              f"decisions stored at {ends} ms")
    return {
        "enqueued_ms": enqueued_ms,
        "seconds": done_at - asked_at,
        "overhead_ms": [(created.timestamp() - asked_at - LATENCY_S) * 1000 for _, created in stored],
        "queue_ms": [(calls[lender_id].timestamp() - asked_at) * 1000 for lender_id, _ in stored],
        "call_ms": [(created.timestamp() - calls[lender_id].timestamp() - LATENCY_S) * 1000 for lender_id, created in stored],
        "lender_ms": lender_ms,
    }


def cleanup(processes: list, db_name: str, broker_prefix: str) -> None:
    for process in processes:
        stop(process)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may never have been set up
        pass
    admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=broker_prefix + "*", count=1000):
        client.delete(key)


def workers_start(env: dict[str, str], count: int, threads: int) -> list[subprocess.Popen]:
    """Workers logging warnings only (a line per task received and done is CPU the calls need);
    ready once `celery inspect ping` gets an answer from each."""
    workers, names = [], []
    for number in range(count):
        name = f"bench-fanout-{number}-{secrets.token_hex(3)}@bench"
        log = open(ROOT / "var" / f"bench-fanout-worker-{number}.log", "w")  # noqa: SIM115 - closed with the process
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "prosperas", "worker", "-Q", "lender_calls,default", "-P", "threads",
             "-c", str(threads), "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        ))
        names.append(name)
    deadline = time.monotonic() + 60
    for name in names:
        while subprocess.run([sys.executable, "-m", "celery", "-A", "prosperas", "inspect", "ping", "-d", name, "-t", "2"],
                             cwd=ROOT, env=env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
                raise RuntimeError("a Celery worker did not become ready; see var/bench-fanout-worker-*.log")
            time.sleep(0.5)
    return workers


def measure(entries: list) -> dict[int, dict]:
    one_round(entries[:1])  # warm-up: connections, imports
    results = {}
    for k in KS:
        rounds = [one_round(entries[:k]) for _ in range(ROUNDS)]
        results[k] = {
            "seconds": statistics.median(r["seconds"] for r in rounds),
            "overhead_ms": statistics.median(statistics.median(r["overhead_ms"]) for r in rounds),
            "queue_ms": statistics.median(statistics.median(r["queue_ms"]) for r in rounds),
            "call_ms": statistics.median(statistics.median(r["call_ms"]) for r in rounds),
            "lender_ms": statistics.median(statistics.median(r["lender_ms"]) for r in rounds),
            "all": [round(r["seconds"], 3) for r in rounds],
        }
    return results


def main() -> int:
    db_name = f"bench_fanout_{secrets.token_hex(4)}"
    broker_prefix = f"bench-fanout-{secrets.token_hex(4)}:"
    max_connections = admin_execute("SHOW max_connections")[0][0]
    admin_execute(f'CREATE DATABASE "{db_name}"')
    env = site_environment(db_name, broker_prefix)
    processes: list[subprocess.Popen] = []
    (ROOT / "var").mkdir(exist_ok=True)
    results: dict[str, dict[int, dict]] = {}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        web, listening = start(
            [sys.executable, "-m", "gunicorn", "prosperas.wsgi:application", "--bind", "127.0.0.1:0", "--worker-class",
             "gthread", "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS), "--timeout", "60",
             "--no-control-socket"],
            env, ROOT / "var" / "bench-fanout-gunicorn.log", re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)"),
        )
        processes.append(web)
        port = int(listening.rsplit(":", 1)[1])
        entries = data_create(env, port, max(KS))
        print(f"Setup: database {db_name} (max_connections {max_connections}), gunicorn gthread "
              f"{GUNICORN_WORKERS}x{GUNICORN_THREADS} on port {port}, Celery threads pools on Redis, {max(KS)} sandbox "
              f"lenders answering after L = {LATENCY_S:g} s; {ROUNDS} rounds per K and deployment.\n")
        for label, count, threads in DEPLOYMENTS:
            workers = workers_start(env, count, threads)
            try:
                results[label] = measure(entries)
            finally:
                for worker in workers:
                    stop(worker)
    finally:
        cleanup(processes, db_name, broker_prefix)

    figures: dict = {"bench": "fanout", "latency_s": LATENCY_S, "rounds": ROUNDS,
                     "gunicorn": f"gthread {GUNICORN_WORKERS}x{GUNICORN_THREADS}", "max_connections": int(max_connections)}
    for index, (label, count, threads) in enumerate(DEPLOYMENTS):
        print(f"{label}:")
        print(f"{'K':>4} {'all stored (s)':>15} {'ratio to L':>11} {'target':>7} {'overhead/call ms':>17} "
              f"{'wait for thread':>16} {'rest of call':>13} {'lender beyond L':>16} {'platform only':>14}"
              "   rounds (s)")
        met = True
        prefix = "" if index == 0 else f"workers{count}_"  # the headline: one worker, as make run and compose run it
        for k, row in results[label].items():
            ratio = row["seconds"] / LATENCY_S
            target = TARGETS.get(k)
            met = met and (target is None or ratio <= target)
            print(f"{k:>4} {row['seconds']:>15.3f} {ratio:>11.3f} {('<= %.1f' % target) if target else '':>7} "
                  f"{row['overhead_ms']:>17.0f} {row['queue_ms']:>16.0f} {row['call_ms']:>13.0f} "
                  f"{row['lender_ms']:>16.0f} {row['overhead_ms'] - row['lender_ms']:>14.0f}   {row['all']}")
            figures[f"{prefix}k{k}_ratio"] = round(ratio, 3)
            figures[f"{prefix}k{k}_overhead_ms_per_call"] = round(row["overhead_ms"], 1)
            figures[f"{prefix}k{k}_platform_only_ms_per_call"] = round(row["overhead_ms"] - row["lender_ms"], 1)
        figures[f"{prefix}targets_met"] = met
        print(f"Targets (ratio <= 1.2 at K=30, <= 1.5 at K=100): {'met' if met else 'NOT met'}.\n")
    headline = results[DEPLOYMENTS[0][0]]
    figures["overhead_ms_per_call"] = round(headline[KS[0]]["overhead_ms"], 1)
    figures["deployment"] = DEPLOYMENTS[0][0]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
