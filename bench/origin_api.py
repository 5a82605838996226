"""Benchmark: the origins' API under a burst of leads, and how soon an origin hears of a decision.

    make bench NAME=origin_api        (runs .venv/bin/python bench/origin_api.py from the repo root)

Everything on loopback, bounded (a few minutes), cleaned up at the end:

1. Its own PostgreSQL database (bench_origin_<random>, created, migrated, dropped) and Redis keys of
   its own prefix; an origin with an API client and a callback URL, two sandbox lenders (the
   embedded style, served by the same site) published to it.
2. gunicorn as docker-compose runs it (gthread, 2 workers x 8 threads), a lender-call worker
   (threads, 50) and a callbacks worker on its own queue (threads, 16), as `make run` starts them.
3. A callback receiver in this process (a threaded HTTP server on loopback) that verifies every
   callback with the `standardwebhooks` library and notes when it arrived.
4. ROUNDS rounds of LEADS concurrent POST /api/v1/leads (one thread and one connection per lead,
   released together): p50 / p95 time to the 201. Then, for every lender's decision stored in those
   rounds (Decision.created_at, written by the lender worker), the time until its
   `lead.lender_outcome` callback reached the receiver: p50 / p95. Targets: 201 p95 <= 100 ms,
   decision -> callback p95 <= 1 s. Before the rounds, ALONE leads one at a time give the same two
   figures uncontended, as a reference. The machine's load average is printed with the figures: on a
   shared machine they are pessimistic.

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from postbacks import admin_execute, cleanup, gunicorn_start, site_environment  # noqa: E402 - after sys.path

LEADS = int(os.environ.get("BENCH_LEADS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETTLE_SECONDS = float(os.environ.get("BENCH_SETTLE_SECONDS", "60"))
TARGET_CREATE_P95_MS = 100.0
TARGET_CALLBACK_P95_MS = 1000.0
LENDERS = 2
ALONE = int(os.environ.get("BENCH_ALONE", "10"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


class Receiver:
    """The origin's callback endpoint: verifies with standardwebhooks, notes arrival times."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16) + "Zq"
        self.secret = ""
        self.arrivals: dict[tuple[str, str], float] = {}  # (lead uuid, lender code) -> epoch seconds
        self.unverified = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                from standardwebhooks import Webhook

                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = Webhook(receiver.secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:  # noqa: BLE001 - any failure to verify is counted
                    event = None
                with receiver.lock:
                    if event is None:
                        receiver.unverified += 1
                    elif event["type"] == "lead.lender_outcome":
                        key = (event["data"]["uuid"], event["data"]["lenderCode"])
                        receiver.arrivals.setdefault(key, arrived)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/{self.token}"


def setup_data(env: dict[str, str], receiver: Receiver) -> tuple[str, str]:
    os.environ.update({name: env[name] for name in (
        "DATABASE_URL", "DEBUG", "SECURE_SSL_REDIRECT", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS",
        "DJANGO_SETTINGS_MODULE", "LOG_LEVEL", "SANDBOX_ENABLED", "REDIS_URL", "CELERY_BROKER_KEYPREFIX")})
    import django

    django.setup()
    from django.core.management import call_command

    from apps.origin_api.callbacks import origin_webhook_set
    from apps.origin_api.services import origin_client_create

    call_command("migrate", verbosity=0, interactive=False)
    from tests.factories import ListingFactory, OriginFactory, ProductFactory, publish, sandbox_lender

    origin = OriginFactory(code="benchwallet", name="Bench wallet", prefix_tracking_ids=True)
    for index in range(LENDERS):
        lender = sandbox_lender(server_url="http://127.0.0.1:9", code=f"bench-{index}")
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
    receiver.secret = origin_webhook_set(origin=origin, environment="staging", url=receiver.url).secret
    issued = origin_client_create(origin=origin, environment="staging")
    return issued.client_id, issued.client_secret


def lenders_point_at(port: int) -> None:
    from apps.lenders.models import Lender
    from apps.sandbox.styles import sandbox_base_url

    for lender in Lender.objects.all():
        Lender.objects.filter(pk=lender.pk).update(
            base_url=sandbox_base_url(style="embedded", site_url=f"http://127.0.0.1:{port}", code=lender.code))


def worker_start(env: dict[str, str], *, queues: str, concurrency: int, name: str) -> subprocess.Popen:
    log_path = ROOT / "var" / f"bench-origin-{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prosperas", "worker", "-Q", queues, "-P", "threads",
         "-c", str(concurrency), "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    time.sleep(3)
    if process.poll() is not None:
        raise RuntimeError(f"worker {name} exited; see {log_path}")
    return process


def token_get(port: int, client_id: str, client_secret: str) -> str:
    import base64

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    connection.request("POST", "/api/v1/oauth2/token", body="grant_type=client_credentials&scope=leads+events",
                       headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    return json.loads(connection.getresponse().read())["access_token"]


def lead_body(partner_lead_id: str, index: int) -> bytes:
    return json.dumps({
        "partnerLeadId": partner_lead_id,
        "borrower": {"documentType": "CC", "documentNumber": str(1_020_000_000 + index), "fullName": "Ana María Pérez",
                     "birthDate": "1990-05-17", "email": f"bench{index}@example.com", "phone": "300 123 4567",
                     "monthlyIncome": 3_500_000, "region": "CO-DC", "employmentStatus": "employed"},
        "loan": {"amount": 3_000_000, "termMonths": 24, "purpose": "debt_consolidation"},
        "consent": {"textVersion": "2026-11-01", "acceptedAt": "2026-12-01T10:15:00-05:00",
                    "kinds": ["terms", "privacy", "data_processing"]},
    }).encode()


def burst(port: int, token: str, round_number: int, leads: int = LEADS) -> tuple[list[float], list[str], int]:
    """`leads` submissions released together: (ms to each 201, the leads' uuids, non-201 answers)."""
    barrier = threading.Barrier(leads)
    times: list[float] = []
    uuids: list[str] = []
    failures = [0]
    lock = threading.Lock()

    def one(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        body = lead_body(f"bench-{round_number}-{index}", index)
        barrier.wait()
        started = time.monotonic()
        connection.request("POST", "/api/v1/leads", body=body,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        elapsed = (time.monotonic() - started) * 1000
        with lock:
            if response.status == 201:
                times.append(elapsed)
                uuids.append(json.loads(answer)["uuid"])
            else:
                failures[0] += 1
        connection.close()

    threads = [threading.Thread(target=one, args=(index,)) for index in range(leads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, uuids, failures[0]


def decision_to_callback(receiver: Receiver, uuids: list[str]) -> tuple[list[float], int]:
    """ms from each stored decision of these leads to its callback's arrival; decisions whose
    callback did not arrive within SETTLE_SECONDS are counted as missing."""
    from django.db import connection

    from apps.leads.models import Decision
    from apps.origin_api.models import OriginLead

    deadline = time.monotonic() + SETTLE_SECONDS
    by_lead = dict(OriginLead.objects.filter(uuid__in=uuids).values_list("lead_id", "uuid"))
    while True:
        decisions = list(Decision.objects.filter(lead_id__in=by_lead).exclude(outcome="pending")
                         .values_list("lead_id", "lender__code", "created_at"))
        keys = [(str(by_lead[lead_id]), code) for lead_id, code, _at in decisions]
        if (len(decisions) >= len(uuids) * LENDERS and all(key in receiver.arrivals for key in keys)) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    connection.close()
    latencies = [(receiver.arrivals[key] - at.timestamp()) * 1000
                 for key, (_lead, _code, at) in zip(keys, decisions, strict=True) if key in receiver.arrivals]
    return latencies, len(uuids) * LENDERS - len(latencies)


def main() -> int:
    db_name = f"bench_origin_{secrets.token_hex(4)}"
    admin_execute(f'CREATE DATABASE "{db_name}"')
    env = site_environment(db_name, broker_prefix=f"bench-origin-{secrets.token_hex(4)}:")
    env.update(SANDBOX_ENABLED="true", ORIGIN_API_SEARCH_TIMEOUT_SECONDS="120")
    processes: list[subprocess.Popen] = []
    gunicorn = None
    try:
        receiver = Receiver()
        client_id, client_secret = setup_data(env, receiver)
        gunicorn, port = gunicorn_start(env, ROOT / "var" / "bench-origin-gunicorn.log")
        lenders_point_at(port)
        processes.append(worker_start(env, queues="lender_calls,default", concurrency=50, name="lenders"))
        processes.append(worker_start(env, queues="origin_callbacks", concurrency=16, name="callbacks"))
        token = token_get(port, client_id, client_secret)
        print(f"Setup: database {db_name}, gunicorn gthread 2x8 on port {port}, {LENDERS} sandbox lenders, "
              f"{LEADS} concurrent leads x {ROUNDS} rounds")
        # The same path uncontended, as a reference: one lead at a time, ALONE times.
        alone_create, alone_callback = [], []
        for number in range(ALONE):
            times, uuids, _refused = burst(port, token, 1000 + number, leads=1)
            latencies, _missing = decision_to_callback(receiver, uuids)
            alone_create += times
            alone_callback += latencies
        print(f"alone ({ALONE} leads one by one): 201 p50 {percentile(alone_create, 0.5):.1f} ms  | "
              f"decision->callback p50 {percentile(alone_callback, 0.5):.1f} ms  max {max(alone_callback):.1f} ms")
        rounds = []
        for round_number in range(ROUNDS):
            times, uuids, refused = burst(port, token, round_number)
            latencies, missing = decision_to_callback(receiver, uuids)
            rounds.append({"create_p50": percentile(times, 0.5), "create_p95": percentile(times, 0.95),
                           "callback_p50": percentile(latencies, 0.5), "callback_p95": percentile(latencies, 0.95),
                           "refused": refused, "missing_callbacks": missing, "load": os.getloadavg()[0]})
            row = rounds[-1]
            print(f"round {round_number + 1}: 201 p50 {row['create_p50']:7.1f} ms  p95 {row['create_p95']:7.1f} ms  | "
                  f"decision->callback p50 {row['callback_p50']:7.1f} ms  p95 {row['callback_p95']:7.1f} ms  | "
                  f"non-201 {refused}  missing callbacks {missing}  load {row['load']:.2f}")
        figures = {name: round(statistics.median(row[name] for row in rounds), 1)
                   for name in ("create_p50", "create_p95", "callback_p50", "callback_p95")}
        load = os.getloadavg()
        print(f"\nMedian of {ROUNDS} rounds       value      target")
        print(f"201 p95 (ms)            {figures['create_p95']:9.1f}   <= {TARGET_CREATE_P95_MS:g}")
        print(f"decision->callback p95  {figures['callback_p95']:9.1f}   <= {TARGET_CALLBACK_P95_MS:g}")
        print(f"load average (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
              f"unverified callbacks: {receiver.unverified}")
        print(json.dumps({"bench": "origin_api", "leads": LEADS, "rounds": ROUNDS, **figures,
                          "alone_create_p50": round(percentile(alone_create, 0.5), 1),
                          "alone_callback_p50": round(percentile(alone_callback, 0.5), 1),
                          "create_target_ms": TARGET_CREATE_P95_MS, "callback_target_ms": TARGET_CALLBACK_P95_MS,
                          "refused": sum(row["refused"] for row in rounds),
                          "missing_callbacks": sum(row["missing_callbacks"] for row in rounds),
                          "unverified_callbacks": receiver.unverified,
                          "load_average_1m": round(load[0], 2), "cores": os.cpu_count(),
                          "measured_at": datetime.now().isoformat(timespec="seconds")}))
        return 0
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        cleanup(gunicorn, db_name, env)


if __name__ == "__main__":
    sys.exit(main())
