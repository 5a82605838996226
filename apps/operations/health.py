"""What readiness checks: the database, Redis, the broker, the migrations; each quickly.

Each check answers within about two seconds when its server is gone (short timeouts), and costs
one round trip when it is there: `SELECT 1` on a pooled connection, a Redis PING, a broker
connection's PING, and one read of django_migrations compared with the migrations on disk (read
once per process). Nothing is cached between calls: a probe sees the platform as it is.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader

from apps.operations import heartbeats
from prosperas.celery import app as celery_app

TIMEOUT_SECONDS = 2.0


@dataclass
class CheckResult:
    ok: bool
    ms: float = 0.0
    error: str = ""
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        answer: dict = {"ok": self.ok, "ms": round(self.ms, 1)}
        if self.error:
            answer["error"] = self.error
        return {**answer, **self.details}


def _timed(check: Callable[[], dict | None]) -> CheckResult:
    started = time.perf_counter()
    try:
        details = check() or {}
    except Exception as exc:  # any failure is "not ready", named by its type, never its text (it may hold a URL)
        return CheckResult(ok=False, ms=(time.perf_counter() - started) * 1000, error=type(exc).__name__)
    ok = not details.pop("failed", False)
    return CheckResult(ok=ok, ms=(time.perf_counter() - started) * 1000, details=details,
                       error="" if ok else details.pop("reason", "failed"))


def _applied_migrations() -> set[tuple[str, str]]:
    """django_migrations, read on a connection of the pool (given back at once), waiting at most
    TIMEOUT_SECONDS for one: a database that is gone fails the check, it does not hold the probe."""
    connection = connections[DEFAULT_DB_ALIAS]
    pool = getattr(connection, "pool", None)
    if pool is None:  # no pool configured: Django's own connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            return set(cursor.fetchall())
    pool.open()  # as Django does on a process's first query; nothing when it is open
    with pool.connection(timeout=TIMEOUT_SECONDS) as raw:
        return {(app, name) for app, name in raw.execute("SELECT app, name FROM django_migrations").fetchall()}


@functools.cache
def migrations_on_disk() -> tuple[frozenset[tuple[str, str]], tuple[tuple[tuple[str, str], tuple], ...]]:
    """Every migration the code has, and the squashed ones with what they replace: read from disk
    once per process (the code does not change under a running process)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.graph.nodes), tuple((key, tuple(m.replaces)) for key, m in loader.replacements.items())


def check_database_and_migrations() -> tuple[CheckResult, CheckResult]:
    found: dict = {}

    def database() -> None:
        found["applied"] = _applied_migrations()

    database_result = _timed(database)
    if not database_result.ok:
        return database_result, CheckResult(ok=False, error="database_unreachable")

    def migrations() -> dict:
        expected, replacements = migrations_on_disk()
        applied = set(found["applied"])
        applied |= {key for key, replaced in replacements if set(replaced) <= applied}
        missing = sorted(f"{app}.{name}" for app, name in expected - applied)
        return {"failed": bool(missing), "reason": "unapplied_migrations", "unapplied": missing[:20]} if missing \
            else {"unapplied": []}

    return database_result, _timed(migrations)


def check_redis() -> CheckResult:
    return _timed(lambda: {"failed": not heartbeats.redis_client().ping()})


def check_broker() -> CheckResult:
    """A PING on the broker's Redis through a kept client (a new broker connection each time cost
    15-25 ms); another kind of broker is connected to."""
    url = celery_app.conf.broker_url or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _timed(lambda: {"failed": not heartbeats.redis_client(url).ping()})

    def connect() -> None:
        with celery_app.connection_for_write(connect_timeout=TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)

    return _timed(connect)


def readiness() -> tuple[bool, dict]:
    """(ready, the answer's body). The heartbeats are shown, not required: a web process whose
    worker is away still serves consumers (the work waits in the database; the sweep sends it),
    so taking it out of the load balancer would only make things worse."""
    database, migrations = check_database_and_migrations()
    checks = {"database": database, "migrations": migrations, "redis": check_redis(), "broker": check_broker()}
    ready = all(result.ok for result in checks.values())
    body = {"status": "ready" if ready else "not_ready",
            "checks": {name: result.as_json() for name, result in checks.items()},
            "heartbeats": _heartbeats_json() if checks["redis"].ok else None}
    return ready, body


def _heartbeats_json() -> dict:
    found: dict[str, list] = {heartbeats.WORKER: [], heartbeats.BEAT: []}
    try:
        for beat in heartbeats.heartbeats():
            found[beat.kind].append({"name": beat.name, "age_seconds": beat.age_seconds, "stale": beat.stale})
    except Exception as exc:
        return {"error": type(exc).__name__}
    return found
