"""Celery signals of the operations app, connected in every process (apps.py):

- a worker writes its heartbeat from a thread started when it is ready, and forgets it when it
  stops; beat writes its heartbeat whenever its scheduler sends a task (heartbeats.py);
- each task's lag (from publishing, or from its ETA when it had one, to its start) and each retry
  are counted in the metrics (prosperas/metrics.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from celery.signals import before_task_publish, beat_init, task_prerun, task_retry, worker_ready, worker_shutdown

from apps.operations import heartbeats
from prosperas.metrics import counter, histogram

logger = logging.getLogger(__name__)

PUBLISHED_AT = "prosperas_published_at"  # a message header: when the task was published (epoch s)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

TASK_LAG = histogram("task_lag_seconds", "Time from a task's publishing (or its ETA) to its start in a worker.",
                     ["queue", "task"], buckets=LAG_BUCKETS)
TASK_RETRIES = counter("task_retries", "Task retries scheduled, by task.", ["task"])

_worker_stop = threading.Event()
_worker = {"name": ""}
_beat = {"pid": None, "thread": None, "last": 0.0}


@worker_ready.connect(dispatch_uid="operations.worker_ready")
def _start_worker_heartbeat(sender=None, **_kwargs) -> None:
    name = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    _worker.update(name=name)
    _worker_stop.clear()
    threading.Thread(target=_worker_heartbeat_loop, args=(name,), name="prosperas-heartbeat", daemon=True).start()


def _worker_heartbeat_loop(name: str) -> None:
    while not _worker_stop.is_set():
        try:
            heartbeats.heartbeat_record(kind=heartbeats.WORKER, name=name)
        except Exception as exc:  # Redis away for a moment: the age shows it; try again next time
            logger.warning("worker heartbeat not written: %s", type(exc).__name__)
        _worker_stop.wait(heartbeats.HEARTBEAT_INTERVAL)


@worker_shutdown.connect(dispatch_uid="operations.worker_shutdown")
def _stop_worker_heartbeat(**_kwargs) -> None:
    """A worker that stops properly is no longer listed; one that dies ages until forgotten."""
    _worker_stop.set()
    if _worker["name"]:
        try:
            heartbeats.heartbeat_forget(kind=heartbeats.WORKER, name=_worker["name"])
        except Exception as exc:
            logger.warning("worker heartbeat not removed at shutdown: %s", type(exc).__name__)


@beat_init.connect(dispatch_uid="operations.beat_init")
def _mark_beat(sender=None, **_kwargs) -> None:
    """Beat's scheduler runs in this thread of this process (a process of its own, or a child of a
    worker started with -B): what it publishes is beat's heartbeat."""
    _beat.update(pid=os.getpid(), thread=threading.get_ident(), last=0.0)


@before_task_publish.connect(dispatch_uid="operations.publish")
def _on_publish(sender=None, headers=None, **_kwargs) -> None:
    now = time.time()
    if headers is not None:
        headers[PUBLISHED_AT] = now
    if _beat["pid"] == os.getpid() and _beat["thread"] == threading.get_ident() and now - _beat["last"] >= 1.0:
        _beat["last"] = now
        try:
            heartbeats.heartbeat_record(kind=heartbeats.BEAT, name=f"beat@{os.uname().nodename}", now=now)
        except Exception as exc:
            logger.warning("beat heartbeat not written: %s", type(exc).__name__)


@task_prerun.connect(dispatch_uid="operations.prerun")
def _observe_lag(task=None, **_kwargs) -> None:
    request = getattr(task, "request", None)
    published_at = _header(request, PUBLISHED_AT)
    if request is None or published_at is None or getattr(request, "is_eager", False):
        return
    ready_at = float(published_at)
    eta = getattr(request, "eta", None)
    if eta:
        try:
            ready_at = max(ready_at, datetime.fromisoformat(eta).timestamp())
        except (TypeError, ValueError):
            pass
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or ""
    TASK_LAG.labels(queue, task.name).observe(max(0.0, time.time() - ready_at))


@task_retry.connect(dispatch_uid="operations.retry")
def _count_retry(sender=None, **_kwargs) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", "")).inc()


def _header(request, name: str):
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value
