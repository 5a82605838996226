"""Gauges computed when Prometheus scrapes `/metrics`, from Redis and the database, each with a
few cheap reads: the broker's queues (depth, the oldest message's age, messages taken by workers
and not yet acknowledged), the postback follow-up backlog, each lender's circuit, recent journeys
by status, and the worker and beat heartbeats. The database parts go through the other apps'
selectors."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import redis
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.leads.selectors import journeys_by_status
from apps.lenders.models import CircuitState
from apps.lenders.selectors import lender_circuit_states
from apps.operations import heartbeats
from apps.operations.signals import PUBLISHED_AT
from apps.postbacks.selectors import postback_follow_up_backlog
from prosperas.celery import app as celery_app
from prosperas.metrics import PREFIX

logger = logging.getLogger(__name__)

QUEUES = ("lender_calls", "default")
# kombu's Redis transport keeps a queue's messages of priority p > 0 in a list of its own.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
JOURNEY_WINDOW = timedelta(hours=1)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels)


def broker_client() -> redis.Redis | None:
    """A client of the broker's Redis (None when the broker is not Redis)."""
    url = celery_app.conf.broker_url or ""
    return heartbeats.redis_client(url) if url.startswith(REDIS_SCHEMES) else None


def queue_figures(client: redis.Redis, *, now: float) -> tuple[dict[str, int], dict[str, float], int]:
    """Messages waiting in each queue, the age of each queue's oldest, and the messages workers
    hold unacknowledged: one round trip."""
    prefix = celery_app.conf.broker_transport_options.get("global_keyprefix", "")
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(prefix + queue + suffix)
        pipe.lindex(prefix + queue, -1)  # kombu pushes on the left and pops on the right
    pipe.hlen(prefix + "unacked")
    answers = pipe.execute()
    depth, oldest_age, step = {}, {}, len(PRIORITY_SUFFIXES) + 1
    for index, queue in enumerate(QUEUES):
        chunk = answers[index * step:(index + 1) * step]
        depth[queue] = sum(chunk[:-1])
        oldest_age[queue] = _message_age(chunk[-1], now=now)
    return depth, oldest_age, answers[-1]


def _message_age(raw: bytes | None, *, now: float) -> float:
    if not raw:
        return 0.0
    try:
        published_at = json.loads(raw)["headers"].get(PUBLISHED_AT)
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0.0
    return max(0.0, now - float(published_at)) if published_at else 0.0


class PlatformCollector(Collector):
    """Registered only in the registry of one scrape (prosperas.metrics.metrics_exposition), never
    globally: no process computes these but the one answering `/metrics`."""

    def collect(self):
        now = time.time()
        yield from self._queues(now)
        try:
            yield from self._database()
        except DatabaseError as exc:
            logger.warning("metrics: the database could not be read: %s", type(exc).__name__)
        yield from self._heartbeats(now)

    def _queues(self, now: float):
        client = broker_client()
        if client is None:
            return
        try:
            depth, oldest_age, unacked = queue_figures(client, now=now)
        except redis.RedisError as exc:
            logger.warning("metrics: the broker's queues could not be read: %s", type(exc).__name__)
            return
        waiting = _gauge("queue_depth", "Tasks waiting in the broker's queue.", ["queue"])
        age = _gauge("queue_oldest_task_age_seconds", "Age of the oldest task waiting in the queue.", ["queue"])
        for queue in QUEUES:
            waiting.add_metric([queue], depth[queue])
            age.add_metric([queue], oldest_age[queue])
        yield waiting
        yield age
        yield GaugeMetricFamily(PREFIX + "tasks_unacknowledged",
                                "Tasks taken by workers and not yet acknowledged (running or reserved).", value=unacked)

    def _database(self):
        now = timezone.now()
        backlog, oldest = postback_follow_up_backlog(now=now)
        yield GaugeMetricFamily(PREFIX + "postback_follow_up_backlog", "Applied postbacks whose follow-up is still due.",
                                value=backlog)
        yield GaugeMetricFamily(PREFIX + "postback_follow_up_oldest_seconds",
                                "Age of the oldest postback whose follow-up is still due.", value=oldest)
        circuits = _gauge("lender_circuit_state", "1 for each active lender's current circuit state.", ["lender", "state"])
        for code, state in lender_circuit_states():
            for candidate in CircuitState.values:
                circuits.add_metric([code, candidate], 1.0 if candidate == state else 0.0)
        yield circuits
        journeys = _gauge("journeys", f"Journeys in each status, among those that changed in the last "
                                      f"{int(JOURNEY_WINDOW.total_seconds() // 60)} minutes.", ["status"])
        for status, count in journeys_by_status(since=now - JOURNEY_WINDOW).items():
            journeys.add_metric([status], count)
        yield journeys

    def _heartbeats(self, now: float):
        try:
            beats = heartbeats.heartbeats(now=now)
        except redis.RedisError:
            return
        ages = _gauge("heartbeat_age_seconds", "Seconds since each worker's and beat's last heartbeat.", ["kind", "name"])
        for beat in beats:
            ages.add_metric([beat.kind, beat.name], beat.age_seconds)
        yield ages
