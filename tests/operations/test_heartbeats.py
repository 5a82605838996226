"""Worker and beat heartbeats: written by a real Celery worker with embedded beat, removed when
the worker stops, and shown on the admin's index."""

import re
import time
import uuid

import pytest

from apps.operations import heartbeats
from tests.conftest import start_worker, stop_worker
from tests.support import wait_until


def names(kind: str) -> set[str]:
    return {beat.name for beat in heartbeats.heartbeats() if beat.kind == kind}


@pytest.mark.worker
def test_a_worker_and_its_beat_write_heartbeats_and_the_worker_forgets_its_own_when_it_stops(
    broker_isolation, transactional_db
):
    name = f"testworker-beats-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_isolation, name=name, beat=True)
    try:
        workers = wait_until(lambda: {n for n in names(heartbeats.WORKER) if n.startswith(f"{name}@")})
        assert wait_until(lambda: names(heartbeats.BEAT))  # beat sends the postbacks' follow-up every 2 s
        young = [beat for beat in heartbeats.heartbeats() if beat.name in workers]
        assert young and all(not beat.stale and beat.age_seconds < heartbeats.HEARTBEAT_INTERVAL + 5 for beat in young)
    finally:
        stop_worker(worker)

    assert not workers & names(heartbeats.WORKER)


@pytest.mark.django_db
def test_the_admin_index_shows_each_heartbeat_and_flags_a_stale_one(admin_client, broker_isolation):
    now = time.time()
    heartbeats.heartbeat_record(kind=heartbeats.WORKER, name="worker@node-7", now=now - 4)
    heartbeats.heartbeat_record(kind=heartbeats.BEAT, name="beat@node-1", now=now - 900)
    try:
        page = admin_client.get("/admin/").content.decode()
    finally:
        heartbeats.heartbeat_forget(kind=heartbeats.WORKER, name="worker@node-7")
        heartbeats.heartbeat_forget(kind=heartbeats.BEAT, name="beat@node-1")

    assert "Workers and beat" in page
    assert "worker <strong>worker@node-7</strong>" in page
    assert re.search(r"beat <strong>beat@node-1</strong>: last heartbeat 9\d\d s ago <strong[^>]*>\(stale\)", page)
