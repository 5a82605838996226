"""The fault-injection suite's parts: a Redis of its own on a free port (never the shared one),
the Celery worker and beat of `make run`, kept alive by prosperas/supervise.py, the app's
publisher pointed at that Redis, sandbox lenders on the live server whose every request is
recorded, and the checks every fault test ends with.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from prosperas.celery import app as celery_app
from tests.conftest import ROOT, _database_url

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateRedis:
    """A redis-server of this test's own, saving nothing: killing it loses every message in it,
    as a broker that crashes does."""

    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(port=free_port(), folder=tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def app_broker(private_redis):
    """This process publishes (a journey's tasks, on commit) to the private Redis."""
    saved = {"broker_url": celery_app.conf.broker_url}
    pools = (celery_app._pool, celery_app.amqp._producer_pool)
    celery_app.conf.broker_url = private_redis.url
    celery_app._pool = celery_app.amqp._producer_pool = None
    yield private_redis
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app.conf.update(saved)
    celery_app._pool, celery_app.amqp._producer_pool = pools


@dataclass
class Supervised:
    """The Celery worker and beat of `make run` (the Makefile's own commands), each kept running
    by prosperas/supervise.py."""

    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, program: str) -> list[int]:
        """The pids the supervisor started `program` ("worker" or "beat") with, oldest first."""
        return [int(pid) for pid in re.findall(rf"\[supervise\] {program} started \(pid (\d+)\)", self.text())]

    def wait_ready(self, count: int = 1, timeout: float = 90) -> None:  # a busy machine boots slowly
        deadline = time.monotonic() + timeout
        while self.text().count(" ready.") < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"worker not ready; see {self.log}")
            time.sleep(0.1)


def make_run_command(variable: str, concurrency: int) -> str:
    """A command of the Makefile's `run` target (WORKER, BEAT), as make expands it."""
    return subprocess.run(
        ["make", "-s", "--no-print-directory", f"PY={sys.executable}", f"WORKER_CONCURRENCY={concurrency}",
         "--eval=print-%: ; @echo $($*)", f"print-{variable}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture
def supervised_worker(private_redis, broker_isolation, transactional_db, tmp_path):
    """start(concurrency, **env) -> Supervised: `make run`'s worker and beat on the private Redis,
    under prosperas/supervise.py, with the platform's settings except what `env` says. They run
    in a folder of the test's own (beat's schedule file is var/celerybeat-schedule there)."""
    started: list[Supervised] = []
    (tmp_path / "var").mkdir(exist_ok=True)

    def start(concurrency: int = 20, **env_extra: str) -> Supervised:
        log = ROOT / "var" / f"faults-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": private_redis.url,
               "CELERY_BROKER_URL": private_redis.url, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
               **broker_isolation, **env_extra}
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "prosperas.supervise",
                 "--name", "worker", "--keep", make_run_command("WORKER", concurrency),
                 "--name", "beat", "--keep", make_run_command("BEAT", concurrency), "--stop-timeout", "5"],
                cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
            )
        supervised = Supervised(process=process, log=log)
        started.append(supervised)
        supervised.wait_ready()
        return supervised

    yield start
    for supervised in started:
        supervised.process.send_signal(signal.SIGTERM)
        try:
            supervised.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            supervised.process.kill()


# --- what the lenders received ----------------------------------------------------------------


@dataclass
class LenderRequests:
    """Every request the sandbox lenders received, by (lender code, tracking ID)."""

    bodies: dict[tuple[str, str], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, code: str, tracking_id: str) -> list[bytes]:
        with self.lock:
            return list(self.bodies[(code, tracking_id)])

    def assert_no_duplicate_beyond_retries(self, *, allowed: int) -> None:
        """No lender got one application more than `allowed` times, and every repeat is the
        identical request (the same tracking ID and idempotency key: a lender that dedupes
        sees one application)."""
        with self.lock:
            for key, bodies in self.bodies.items():
                assert len(bodies) <= allowed, f"{key} received {len(bodies)} times (at most {allowed} allowed)"
                assert len(set(bodies)) == 1, f"{key}: the repeats differ from the first request"


@pytest.fixture
def lender_requests(monkeypatch) -> LenderRequests:
    """Records each sandbox API request's body as the lender receives it (the live server runs
    in this process), keyed by the tracking ID in it."""
    import json

    from apps.sandbox import views

    recorded = LenderRequests()
    answer = views._answer

    def recording(view, style, authenticate, request, lender_code, *args, **kwargs):
        if request.method == "POST":
            try:
                tracking_id = str(json.loads(request.body).get("trackingId", ""))
            except (ValueError, AttributeError):
                tracking_id = ""
            with recorded.lock:
                recorded.bodies[(lender_code, tracking_id)].append(request.body)
        return answer(view, style, authenticate, request, lender_code, *args, **kwargs)

    monkeypatch.setattr(views, "_answer", recording)
    return recorded


# --- consumers, over real HTTP -----------------------------------------------------------------

IDENTITY_FORM = {
    "document_type": "CC", "document_number": "1020304050", "full_name": "Ana María Pérez",
    "monthly_income": "3.500.000", "accept_terms": "on", "accept_privacy": "on", "accept_data_processing": "on",
}


@dataclass
class Consumer:
    """One consumer's browser session on the live server: every answer it got is kept."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""
    answers: list[tuple[str, int]] = field(default_factory=list)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-CSRFToken": self.session.cookies.get("csrftoken", "")}
        response = self.session.request(method, self.base_url + path, headers=headers, allow_redirects=False,
                                        timeout=15, **kwargs)
        self.answers.append((f"{method} {path}", response.status_code))
        return response

    def journey_start(self, origin_code: str, identity: dict | None = None) -> None:
        """Open the origin's catalog, start, give identity and income (a compare-mode origin
        asks every lender at once when the identity is stored)."""
        self.request("GET", f"/o/{origin_code}/")
        started = self.request("POST", f"/o/{origin_code}/start")
        assert started.status_code == 303, started.status_code
        self.token = started.headers["Location"].split("/")[2]
        answered = self.request("POST", f"/j/{self.token}/identity", data={**IDENTITY_FORM, **(identity or {})})
        assert answered.status_code == 303, answered.status_code

    def look(self) -> None:
        """What the waiting page and its poll show now."""
        for step in ("decision", "state"):
            self.request("GET", f"/j/{self.token}/{step}")

    @property
    def lead(self):
        from apps.leads.models import Lead

        return Lead.objects.get(public_token=self.token)

    def server_errors(self) -> list[tuple[str, int]]:
        return [(what, status) for what, status in self.answers if status >= 500]
