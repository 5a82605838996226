"""Prometheus metrics, correct across processes: prometheus-client in multiprocess mode.

Every process of a node (gunicorn's workers, Celery's worker and beat) writes its counters and
histograms into files of its own in PROMETHEUS_MULTIPROC_DIR (settings.py sets it before the
client is imported); `GET /metrics` in any web process adds up every file of the folder. Each
app declares its metrics in its own `metrics.py` through the constructors below, which name them
`prosperas_*`, and records them with one call where the thing happens (a lender call completed,
a postback answered). Gauges that describe the state of the platform (queue depth, the postback
follow-up backlog, circuits, heartbeats) are not recorded by processes: they are computed when
Prometheus scrapes (apps/operations/collectors.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.registry import REGISTRY, Collector

PREFIX = "prosperas_"
# Seconds: from a few milliseconds (a postback, a page) to a lender's 30 s deadline.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _process_identity() -> str:
    """Distinct for every live process writing into the folder, also across containers that share
    it (their process ids start at 1 in each): host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


if multiprocess_dir():
    os.makedirs(multiprocess_dir(), exist_ok=True)
    # Before any metric is made: each value is a slot in this process's file.
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identity)


def counter(name: str, documentation: str, labels: Iterable[str]) -> Counter:
    return Counter(PREFIX + name, documentation, list(labels))


def histogram(name: str, documentation: str, labels: Iterable[str], buckets=LATENCY_BUCKETS) -> Histogram:
    return Histogram(PREFIX + name, documentation, list(labels), buckets=buckets)


class _ThisProcess(Collector):
    """Single-process mode (no folder): this process's own metrics."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_exposition(collectors: Iterable[Collector] = ()) -> bytes:
    """The text Prometheus scrapes: every process's metrics (the folder's files), then what
    `collectors` compute now."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
