"""Benchmark: signed postbacks under load, side by side with a bare Django view, then with
gunicorn workers killed under the load.

    make bench NAME=postbacks        (runs .venv/bin/python bench/postbacks.py from the repo root)

Everything on loopback, bounded in time (about three minutes), cleaned up at the end:

1. Its own PostgreSQL database (bench_postbacks_<random> on 127.0.0.1, created, migrated, dropped),
   Redis keys of its own prefix for the Celery broker the site is configured with (the endpoint
   itself enqueues nothing: emails and result charges follow off the request), a lender and
   LEADS journeys handed off to it, with an email address each.
2. gunicorn as docker-compose runs it (gthread, 2 workers x 8 threads), serving the platform plus
   one bare view, POST /bench/bare, that reads the body and inserts one row (bench/postbacks_site).
3. ROUNDS rounds; in each, at every concurrency, SECONDS of signed postbacks (each a new status of
   a lead, a fresh nonce: the path a real lender takes, through authentication, validation, the
   lead's move by the transition table and the event's insert with its nonce), then SECONDS of
   the same requests to the bare view. The table shows the median of the rounds; the ratio is
   postbacks/s over bare requests/s measured side by side.
4. KILL_SECONDS of the same postback load while a gunicorn worker is killed with SIGKILL every
   KILL_EVERY seconds, the clients sending again, as a lender does, a request whose connection
   died: how many 2xx answers were given and how many events are stored. Every 2xx must have its
   event (nothing acknowledged is lost). A worker killed between its commit and its answer
   leaves an event the lender never heard of; its retry is stored again, marked repeat: those
   are counted apart, since SIGKILL can always land in that window.

The load generator is this process: one thread per concurrent client, each on its own
keep-alive connection. The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DATABASE_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LEVELS = [int(level) for level in os.environ.get("BENCH_LEVELS", "1,4,8,16,32").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "2.5"))
KILL_SECONDS = float(os.environ.get("BENCH_KILL_SECONDS", "20"))
KILL_EVERY = float(os.environ.get("BENCH_KILL_EVERY", "3"))
KILL_RETRIES = 5  # a lender retries a postback whose connection failed, signed afresh, same event_id
WORKERS, THREADS = 2, 8
LEADS = int(os.environ.get("BENCH_LEADS", "15000"))
TARGET_RATIO, TARGET_P99_MS = 0.6, 100.0
LADDER = ["pre_approved", "approved", "disbursed"]
REQUEST_TIMEOUT = 30


# --- Load -------------------------------------------------------------------------------------------


@dataclass
class Run:
    target: str
    concurrency: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    answered: list[str] = field(default_factory=list)  # event_ids that got a 2xx

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def p99_ms(self) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98] * 1000


class Postbacks:
    """Signed postbacks, each a new status of a lead: every lead pre_approved, then every lead
    approved, then disbursed. Concurrent requests are for different leads, as a lender's are."""

    def __init__(self, *, key: str, secret: str, tracking_ids: list[str]) -> None:
        from prosperas.inbound import signing  # standard library only: no Django needed

        self.signing, self.key, self.secret, self.tracking_ids = signing, key, secret, tracking_ids
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def next(self, phase: str) -> tuple[bytes, dict[str, str], str]:
        with self.lock:
            number = next(self.counter)
        event_id = f"{phase}-{number}"
        leads = len(self.tracking_ids)
        body = json.dumps({"click_id": self.tracking_ids[number % leads], "status": LADDER[(number // leads) % 3],
                           "event_id": event_id}, separators=(",", ":")).encode()
        return body, self.signed(body), event_id

    def signed(self, body: bytes) -> dict[str, str]:
        """Headers with a fresh timestamp and nonce: what a lender sends, retries included."""
        return self.signing.signed_headers(key=self.key, secret=self.secret, raw_body=body)


def load_run(*, port: int, path: str, target: str, concurrency: int, seconds: float, postbacks: Postbacks,
             phase: str, retries: int = 0) -> Run:
    """`concurrency` clients sending for `seconds`. With `retries`, a request whose connection
    failed is sent again as a lender would: same body and event_id, signed afresh."""
    run = Run(target=target, concurrency=concurrency)
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        latencies, statuses, answered, errors = [], {}, [], 0
        start.wait()
        pending = None  # a request to send again
        while time.monotonic() < stop_at[0] or pending:
            body, headers, event_id, attempt = pending or (*postbacks.next(phase), 0)
            pending = None
            began = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1  # a killed worker: its connection is gone, open another
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                if attempt < retries:
                    pending = (body, postbacks.signed(body), event_id, attempt + 1)
                continue
            latencies.append(time.perf_counter() - began)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if 200 <= response.status < 300:
                answered.append(event_id)
        connection.close()
        with lock:
            run.latencies.extend(latencies)
            run.answered.extend(answered)
            run.errors += errors
            for status, count in statuses.items():
                run.statuses[status] = run.statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_TIMEOUT + 5)
    run.elapsed = time.monotonic() - began
    return run


# --- Setting up and tearing down --------------------------------------------------------------------


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_DATABASE_URL)
    return parts._replace(path=f"/{name}").geturl()


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        connection.execute(sql)


def redis_check() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        raise SystemExit(f"Redis at {REDIS_URL} (BENCH_REDIS_URL) does not answer: {error}") from error


def site_environment(db_name: str, broker_prefix: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DATABASE_URL": database_url(db_name), "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "postbacks_site.settings", "LOG_LEVEL": "WARNING", "SANDBOX_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]), "PYTHONUNBUFFERED": "1",
        # The bench measures what the endpoint can take, from one address with one key, far past a
        # lender's rate: its limits are counted (their cost is measured) but set out of reach.
        "LENDER_RATE_LIMIT_PER_ADDRESS": "10000000/10s", "LENDER_RATE_LIMIT_PER_KEY": "10000000/10s",
    }
    env.pop("PYTEST_VERSION", None)
    redis_check()
    env.update(REDIS_URL=REDIS_URL, CELERY_BROKER_KEYPREFIX=broker_prefix)
    return env


def data_create(env: dict[str, str]) -> tuple[str, str, list[str]]:
    """Migrate, then one lender and LEADS handed-off journeys; the bare view's table. In this
    process, whose Django then counts what the server stored."""
    os.environ.update({name: env[name] for name in (
        "DATABASE_URL", "DEBUG", "SECURE_SSL_REDIRECT",
        "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE",
        "LOG_LEVEL", "SANDBOX_ENABLED", "REDIS_URL")})
    os.environ["CELERY_BROKER_KEYPREFIX"] = env["CELERY_BROKER_KEYPREFIX"]
    sys.path.insert(0, str(ROOT / "bench"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.leads.models import Lead, LeadStatus
    from apps.lenders.models import Lender
    from apps.origins.models import Origin

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare_row (id bigserial PRIMARY KEY, body bytea NOT NULL, "
                       "created_at timestamptz NOT NULL)")
    origin = Origin.objects.create(code="benchorigin", name="Bench origin", kind=Origin.Kind.CARRIER,
                                   prefix_tracking_ids=True)
    secret = secrets.token_hex(32)
    lender = Lender.objects.create(
        code="bench-lender", name="Bench lender", adapter="embedded", base_url="http://127.0.0.1:9/unused",
        postback_key="pk_bench_" + secrets.token_hex(8), postback_secret=secret,
    )
    tracking_ids = [f"benchorigin_{uuid.uuid4()}" for _ in range(LEADS)]
    Lead.objects.bulk_create(
        [Lead(origin=origin, lender=lender, tracking_id=tracking_id, public_token=secrets.token_urlsafe(32),
              status=LeadStatus.HANDED_OFF, email=f"consumer{index}@example.com", language="es")
         for index, tracking_id in enumerate(tracking_ids)],
        batch_size=2000,
    )
    connection.close()
    return lender.postback_key, secret, tracking_ids


def gunicorn_start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, int]:
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "prosperas.wsgi:application", "--bind", "127.0.0.1:0",
         "--worker-class", "gthread", "--workers", str(WORKERS), "--threads", str(THREADS),
         "--graceful-timeout", "5", "--timeout", "30"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start; see {log_path}")
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if found and _answers(int(found.group(1))):
            return process, int(found.group(1))
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not become ready; see {log_path}")


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/api/v1/postbacks")
        return connection.getresponse().status == 405
    except OSError:
        return False


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's workers: the master's children, read from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            pids.append(int(stat.parent.name))
    return pids


def killer(master_pid: int, stop: threading.Event, kills: list[int]) -> None:
    while not stop.wait(KILL_EVERY):
        pids = worker_pids(master_pid)
        if pids:
            victim = random.choice(pids)
            try:
                os.kill(victim, signal.SIGKILL)
                kills.append(victim)
            except ProcessLookupError:
                pass


def cleanup(process: subprocess.Popen | None, db_name: str, env: dict[str, str] | None) -> None:
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
    if env and env.get("CELERY_BROKER_KEYPREFIX"):
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=env["CELERY_BROKER_KEYPREFIX"] + "*", count=1000):
            client.delete(key)


# --- The measurements ---------------------------------------------------------------------------------


def side_by_side(port: int, postbacks: Postbacks) -> dict[int, dict[str, list[Run]]]:
    runs: dict[int, dict[str, list[Run]]] = {level: {"postbacks": [], "bare": []} for level in LEVELS}
    for round_number in range(1, ROUNDS + 1):
        for level in LEVELS:
            for target, path in (("postbacks", "/api/v1/postbacks"), ("bare", "/bench/bare")):
                run = load_run(port=port, path=path, target=target, concurrency=level, seconds=SECONDS,
                               postbacks=postbacks, phase=f"r{round_number}")
                bad = {status: count for status, count in run.statuses.items() if not 200 <= status < 300}
                if bad or run.errors:
                    raise RuntimeError(f"{target} at {level}: answers {bad}, connection errors {run.errors}")
                runs[level][target].append(run)
        print(f"  round {round_number}/{ROUNDS} done", flush=True)
    return runs


def kill_phase(port: int, master_pid: int, postbacks: Postbacks, concurrency: int) -> dict:
    from apps.postbacks.models import PostbackEvent

    stop, kills = threading.Event(), []
    chaos = threading.Thread(target=killer, args=(master_pid, stop, kills), daemon=True)
    chaos.start()
    run = load_run(port=port, path="/api/v1/postbacks", target="postbacks", concurrency=concurrency,
                   seconds=KILL_SECONDS, postbacks=postbacks, phase="kill", retries=KILL_RETRIES)
    stop.set()
    chaos.join()
    events = PostbackEvent.objects.filter(event_id__startswith="kill-")
    stored = list(events.order_by("id").values_list("event_id", "is_repeat"))
    stored_ids = {event_id for event_id, _ in stored}
    seen: set[str] = set()
    later_copies = []  # (is_repeat) of each row after the first of its event_id
    for event_id, is_repeat in stored:
        if event_id in seen:
            later_copies.append(is_repeat)
        seen.add(event_id)
    answered = set(run.answered)
    return {
        "kills": len(kills), "requests": len(run.latencies) + run.errors, "answered_2xx": len(run.answered),
        "other_answers": sum(count for status, count in run.statuses.items() if not 200 <= status < 300),
        "connection_errors": run.errors, "events_stored": len(stored),
        # Acknowledged, yet not stored: lost. Must be 0.
        "answered_without_event": len(answered - stored_ids),
        # Stored, never acknowledged despite the retries.
        "stored_never_answered": len(stored_ids - answered),
        # Stored twice: the first answer died with its worker after the commit; the retry is marked repeat.
        "stored_twice": len(later_copies),
        "stored_twice_marked_repeat": sum(later_copies),
    }


def summarize(runs: dict[int, dict[str, list[Run]]]) -> list[dict]:
    rows = []
    for level, by_target in runs.items():
        row = {"concurrency": level}
        for target, target_runs in by_target.items():
            row[f"{target}_rps"] = statistics.median(run.rps for run in target_runs)
            row[f"{target}_p99_ms"] = statistics.median(run.p99_ms for run in target_runs)
        row["ratio"] = statistics.median(
            pb.rps / bare.rps for pb, bare in zip(by_target["postbacks"], by_target["bare"], strict=True)
        )
        rows.append(row)
    return rows


def best_row(rows: list[dict]) -> dict:
    """The concurrency with the most postbacks/s among those answering within the p99 target
    (or the most postbacks/s at all when none does)."""
    within = [row for row in rows if row["postbacks_p99_ms"] <= TARGET_P99_MS]
    return max(within or rows, key=lambda row: row["postbacks_rps"])


def main() -> int:
    db_name = f"bench_postbacks_{secrets.token_hex(4)}"
    broker_prefix = f"bench-postbacks-{secrets.token_hex(4)}:"
    (ROOT / "var").mkdir(exist_ok=True)
    process, env = None, None
    admin_execute(f'CREATE DATABASE "{db_name}"')
    try:
        env = site_environment(db_name, broker_prefix)
        started = time.monotonic()
        key, secret, tracking_ids = data_create(env)
        process, port = gunicorn_start(env, ROOT / "var" / "bench-postbacks-gunicorn.log")
        print(f"Setup: database {db_name}, {LEADS} leads, gunicorn gthread {WORKERS}x{THREADS} on port {port} "
              f"({time.monotonic() - started:.1f} s). Broker: Redis.")
        postbacks = Postbacks(key=key, secret=secret, tracking_ids=tracking_ids)
        load_run(port=port, path="/api/v1/postbacks", target="warm-up", concurrency=4, seconds=1,
                 postbacks=postbacks, phase="warm")
        load_run(port=port, path="/bench/bare", target="warm-up", concurrency=4, seconds=1, postbacks=postbacks,
                 phase="warm")

        print(f"Side by side: {ROUNDS} rounds x {len(LEVELS)} concurrencies x {SECONDS:g} s per target ...")
        rows = summarize(side_by_side(port, postbacks))
        best = best_row(rows)
        print()
        print("concurrency | postbacks/s | p99 ms | bare view/s | p99 ms | ratio   (medians of the rounds)")
        for row in rows:
            mark = "  <- best" if row is best else ""
            print(f"{row['concurrency']:>11} | {row['postbacks_rps']:>11.0f} | {row['postbacks_p99_ms']:>6.1f} | "
                  f"{row['bare_rps']:>11.0f} | {row['bare_p99_ms']:>6.1f} | {row['ratio']:>5.2f}{mark}")
        target_met = best["ratio"] >= TARGET_RATIO and best["postbacks_p99_ms"] <= TARGET_P99_MS
        print(f"\nAt the best concurrency ({best['concurrency']}): ratio {best['ratio']:.2f} "
              f"(target >= {TARGET_RATIO}), p99 {best['postbacks_p99_ms']:.1f} ms (target <= {TARGET_P99_MS:g}): "
              f"{'met' if target_met else 'NOT met'}.")

        print(f"\nKilling a gunicorn worker every {KILL_EVERY:g} s for {KILL_SECONDS:g} s at concurrency "
              f"{best['concurrency']} ...")
        kill = kill_phase(port, process.pid, postbacks, best["concurrency"])
        # Events as reports and billing count them: a lender's retry of an event whose answer died
        # with its worker after the commit is stored again (the contract never deduplicates) and
        # marked repeat, so it counts once.
        distinct = kill["events_stored"] - kill["stored_twice_marked_repeat"]
        equal = kill["answered_2xx"] == distinct and kill["answered_without_event"] == 0
        print(f"workers killed: {kill['kills']}; requests: {kill['requests']} "
              f"(connection errors, each sent again: {kill['connection_errors']})")
        print(f"2xx answers: {kill['answered_2xx']}; events stored: {kill['events_stored']}, of which "
              f"{distinct} counted (repeats marked as such count once) -> {'equal' if equal else 'NOT equal'}")
        print(f"  acknowledged but not stored (lost): {kill['answered_without_event']}; stored but never "
              f"acknowledged: {kill['stored_never_answered']}")
        print(f"  stored twice because the answer died with its worker after the commit: {kill['stored_twice']} "
              f"(the retry marked repeat: {kill['stored_twice_marked_repeat']})")

        figures = {
            "bench": "postbacks", "workers": WORKERS, "threads": THREADS, "rounds": ROUNDS, "seconds": SECONDS,
            "best_concurrency": best["concurrency"], "ratio_at_best": round(best["ratio"], 3),
            "postbacks_rps_at_best": round(best["postbacks_rps"], 1),
            "postbacks_p99_ms_at_best": round(best["postbacks_p99_ms"], 1),
            "bare_rps_at_best": round(best["bare_rps"], 1), "bare_p99_ms_at_best": round(best["bare_p99_ms"], 1),
            "target_met": target_met,
            "levels": {str(row["concurrency"]): {name: round(value, 2) for name, value in row.items()
                                                 if name != "concurrency"} for row in rows},
            "kill": {**kill, "events_counted": distinct, "equal": equal},
        }
        print(json.dumps(figures))
        return 0
    finally:
        cleanup(process, db_name, env)


if __name__ == "__main__":
    sys.exit(main())
