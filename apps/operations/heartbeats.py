"""Heartbeats of the Celery worker and beat, kept in Redis (REDIS_URL) with a time to live.

Each worker process writes its name and the time into a sorted set every HEARTBEAT_INTERVAL
seconds from a thread started when it is ready (signals.py), and removes itself when it stops.
Beat writes its heartbeat whenever it sends a due task (the postbacks' follow-up goes every couple
of seconds), so its age says how long beat's scheduler has been silent, not only whether its
process lives. Readiness and the admin's operations page read the ages; entries older than
HEARTBEAT_FORGET_SECONDS are dropped (a worker gone for good).

The keys carry the broker's key prefix, so test runs sharing one Redis see only their own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from prosperas.celery import app as celery_app

WORKER, BEAT = "worker", "beat"
HEARTBEAT_INTERVAL = 10.0
HEARTBEAT_STALE_SECONDS = 60.0  # a heartbeat older than this is shown as stale
HEARTBEAT_FORGET_SECONDS = 24 * 3600

_client_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def redis_client(url: str | None = None) -> redis.Redis:
    """This process's client for `url` (REDIS_URL by default), with short timeouts: a health
    check must answer quickly that Redis is gone, not hang."""
    url = url or settings.REDIS_URL
    with _client_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return _clients[url]


def _key(kind: str) -> str:
    prefix = celery_app.conf.broker_transport_options.get("global_keyprefix", "")
    return f"{prefix}prosperas:heartbeats:{kind}"


def heartbeat_record(*, kind: str, name: str, now: float | None = None) -> None:
    key = _key(kind)
    pipe = redis_client().pipeline()
    pipe.zadd(key, {name: now if now is not None else time.time()})
    pipe.expire(key, int(HEARTBEAT_FORGET_SECONDS))
    pipe.execute()


def heartbeat_forget(*, kind: str, name: str) -> None:
    redis_client().zrem(_key(kind), name)


@dataclass(frozen=True)
class Heartbeat:
    kind: str
    name: str
    age_seconds: float

    @property
    def stale(self) -> bool:
        return self.age_seconds > HEARTBEAT_STALE_SECONDS


def heartbeats(*, now: float | None = None) -> list[Heartbeat]:
    """Every worker's and beat's latest heartbeat, youngest first within each kind."""
    now = now if now is not None else time.time()
    pipe = redis_client().pipeline()
    for kind in (WORKER, BEAT):
        pipe.zremrangebyscore(_key(kind), "-inf", now - HEARTBEAT_FORGET_SECONDS)
        pipe.zrevrange(_key(kind), 0, 99, withscores=True)
    answers = pipe.execute()
    found = []
    for kind, entries in zip((WORKER, BEAT), answers[1::2], strict=True):
        found += [Heartbeat(kind=kind, name=name.decode(), age_seconds=round(max(0.0, now - at), 1))
                  for name, at in entries]
    return found
