"""/health/live and /health/ready: in-process for the shape, and on a gunicorn process cut off
from PostgreSQL or Redis by a proxy (the shared servers keep running) for failure and recovery."""

import time

import pytest
import requests

from apps.operations import health, heartbeats
from tests.support import wait_until


def ready_of(web) -> requests.Response:
    return requests.get(web.url + "/health/ready", timeout=15)


def test_liveness_answers_without_asking_the_database(client):
    response = client.get("/health/live")  # no database access is allowed in this test: a query would raise

    assert response.status_code == 200
    assert response.json() == {"status": "live"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readiness_checks_the_database_migrations_redis_and_broker(client):
    response = client.get("/health/ready")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "redis", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["migrations"]["unapplied"] == []
    assert set(body["heartbeats"]) == {"worker", "beat"}


@pytest.mark.django_db
def test_an_unapplied_migration_makes_the_platform_not_ready(client, monkeypatch):
    expected, replacements = health.migrations_on_disk()
    monkeypatch.setattr(health, "migrations_on_disk", lambda: (expected | {("leads", "9999_not_applied")}, replacements))

    response = client.get("/health/ready")

    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert (migrations["ok"], migrations["error"], migrations["unapplied"]) == (
        False, "unapplied_migrations", ["leads.9999_not_applied"])


@pytest.mark.django_db
def test_readiness_shows_each_heartbeat_with_its_age_and_whether_it_is_stale(client, broker_isolation):
    now = time.time()
    heartbeats.heartbeat_record(kind=heartbeats.WORKER, name="worker@fresh", now=now - 3)
    heartbeats.heartbeat_record(kind=heartbeats.WORKER, name="worker@silent", now=now - 600)
    heartbeats.heartbeat_record(kind=heartbeats.BEAT, name="beat@host", now=now - 1)
    try:
        found = client.get("/health/ready").json()["heartbeats"]
    finally:
        for kind, name in ((heartbeats.WORKER, "worker@fresh"), (heartbeats.WORKER, "worker@silent"),
                           (heartbeats.BEAT, "beat@host")):
            heartbeats.heartbeat_forget(kind=kind, name=name)

    workers = {entry["name"]: entry for entry in found["worker"]}
    assert workers["worker@fresh"]["stale"] is False and 2 <= workers["worker@fresh"]["age_seconds"] < 30
    assert workers["worker@silent"]["stale"] is True
    assert [entry["name"] for entry in found["beat"]] == ["beat@host"]


def test_readiness_fails_while_the_database_is_unreachable_and_recovers(proxied_web):
    web, database, _redis = proxied_web
    assert ready_of(web).status_code == 200

    database.cut()
    started = time.monotonic()
    down = ready_of(web)
    took = time.monotonic() - started

    assert down.status_code == 503
    checks = down.json()["checks"]
    assert checks["database"]["ok"] is False and checks["migrations"]["ok"] is False
    assert checks["redis"]["ok"] is True and checks["broker"]["ok"] is True
    assert took < 6, f"readiness took {took:.1f} s with the database gone"
    assert requests.get(web.url + "/health/live", timeout=5).status_code == 200

    database.restore()
    wait_until(lambda: ready_of(web).status_code == 200, timeout=30, interval=0.5)


def test_readiness_fails_while_redis_is_unreachable_and_recovers(proxied_web):
    web, _database, redis = proxied_web
    assert ready_of(web).status_code == 200

    redis.cut()
    down = ready_of(web)

    assert down.status_code == 503
    checks = down.json()["checks"]
    assert checks["redis"]["ok"] is False and checks["broker"]["ok"] is False
    assert checks["database"]["ok"] is True
    assert down.json()["heartbeats"] is None
    assert requests.get(web.url + "/health/live", timeout=5).status_code == 200

    redis.restore()
    wait_until(lambda: ready_of(web).status_code == 200, timeout=30, interval=0.5)


def test_probes_over_plain_http_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health/live").status_code == 200
    assert client.get("/o/movilco/").status_code == 301  # everything else is
