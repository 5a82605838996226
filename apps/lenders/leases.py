"""Leases on lender calls in flight: how a call whose worker died is told from a slow one.

A call opened by `lender_call_open` holds a lease (`LenderCall.lease_expires_at`) of
`LENDER_CALL_LEASE_SECONDS`. While the call is sent, this process's lease keeper (one daemon
thread per process, started on first use) renews the lease of every call the process has in
flight, in one UPDATE every `LENDER_CALL_LEASE_RENEW_SECONDS`. A worker killed mid-call (SIGKILL,
out of memory, its machine gone) renews nothing, so its calls' leases run out within
`LENDER_CALL_LEASE_SECONDS`: the in-flight guard then lets a new attempt through, and the sweep
(apps/leads/engine/sweep.py) closes the lost call and enqueues its work at once. A live call,
however slow (a lender taking its whole 30 s), keeps its lease and is never sent twice.

The keeper holds a database connection only while it renews (it closes it after, giving it back
to the pool), and touches the database only while calls are in flight.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.lenders.models import LenderCall

logger = logging.getLogger(__name__)

WORKER_LOST = "No result recorded: the worker was lost during the call."


def lease_until(now: datetime) -> datetime:
    """When a lease taken or renewed at `now` runs out."""
    return now + timedelta(seconds=settings.LENDER_CALL_LEASE_SECONDS)


class LeaseKeeper:
    """Renews the leases of the calls this process is sending, from a thread of its own: the
    thread sending a call is blocked on the lender's socket and cannot."""

    def __init__(self) -> None:
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def held(self, call_id: int) -> Iterator[None]:
        with self._lock:
            self._held[call_id] += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lender-call-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held[call_id] -= 1
                if self._held[call_id] <= 0:
                    del self._held[call_id]

    def held_ids(self) -> list[int]:
        with self._lock:
            return list(self._held)

    def renew(self) -> int:
        """Renew the lease of every call held now; how many rows were renewed."""
        ids = self.held_ids()
        if not ids:
            return 0
        try:
            return LenderCall.objects.filter(pk__in=ids, outcome=LenderCall.Outcome.IN_FLIGHT).update(
                lease_expires_at=lease_until(timezone.now()))
        finally:
            connection.close()  # back to the pool until the next renewal

    def _run(self) -> None:
        stop = threading.Event()  # never set: the thread lives as long as its process
        while not stop.wait(settings.LENDER_CALL_LEASE_RENEW_SECONDS):
            try:
                self.renew()
            except Exception:  # a database hiccup: the next renewal tries again, well within the lease
                logger.exception("renewing the leases of lender calls in flight failed")


keeper = LeaseKeeper()


def lender_calls_lost_close(*, limit: int) -> list[tuple[int, int, str]]:
    """Close as technical failures the calls in flight whose lease has run out (their worker
    is gone), and return their work as (lead_id, lender_id, capability), for the sweep to
    enqueue again. Rows another sweep is closing are skipped."""
    now = timezone.now()
    with transaction.atomic():
        lost = list(
            LenderCall.objects.select_for_update(skip_locked=True)
            .filter(outcome=LenderCall.Outcome.IN_FLIGHT, lease_expires_at__lt=now)
            .order_by("lease_expires_at").values_list("pk", "lead_id", "lender_id", "capability")[:limit]
        )
        LenderCall.objects.filter(pk__in=[pk for pk, *_ in lost]).update(
            outcome=LenderCall.Outcome.TECHNICAL_FAILURE, finished_at=now, error=WORKER_LOST)
    return list(dict.fromkeys((lead_id, lender_id, capability) for _, lead_id, lender_id, capability in lost))
