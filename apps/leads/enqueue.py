"""Enqueueing the journey's background work, on commit, by task name.

The tasks (tasks.py) call the services and the engine; these call back into the queue by name,
so imports run one way only. The names are the tasks' registered names, kept from before the
lender engine moved into this app so that messages already queued during a deploy still run.
Tasks take ids, never personal data: the broker keeps arguments in clear.

Every enqueue after a commit is robust: the work is already stored as due, so a broker that is
down at that moment must not turn the consumer's answer into an error. Django logs the failed
enqueue, and the periodic sweep (engine/sweep.py) enqueues the work again.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

LENDER_PREQUALIFY = "apps.lenders.tasks.lender_prequalify"
LENDER_POLL = "apps.lenders.tasks.lender_poll"
LENDER_SUBMIT = "apps.lenders.tasks.lender_submit"
LEAD_STATUS_NOTIFY = "apps.leads.tasks.lead_status_notify_task"
REVOCATION_NOTICE_SEND = "apps.leads.tasks.revocation_notice_send_task"


def task_send(name: str, *, countdown: float | None = None, producer=None, **kwargs) -> None:
    """Send now (eagerly run when CELERY_TASK_ALWAYS_EAGER, as `delay` would)."""
    current_app.signature(name, kwargs=kwargs).apply_async(countdown=countdown, producer=producer)


def prequalify_enqueue(*, lead_id: int, lender_id: int | None) -> None:
    transaction.on_commit(lambda: task_send(LENDER_PREQUALIFY, lead_id=lead_id, lender_id=lender_id), robust=True)


def prequalify_many_enqueue(*, lead_id: int, lender_ids: list[int]) -> None:
    """A fan-out's K tasks, on commit, through one producer (one broker connection): enqueueing a
    hundred lenders takes tens of milliseconds, not hundreds."""

    def send() -> None:
        with current_app.producer_or_acquire() as producer:
            for lender_id in lender_ids:
                task_send(LENDER_PREQUALIFY, producer=producer, lead_id=lead_id, lender_id=lender_id)

    transaction.on_commit(send, robust=True)


def poll_enqueue(*, lead_id: int, lender_id: int, countdown: float) -> None:
    transaction.on_commit(
        lambda: task_send(LENDER_POLL, countdown=countdown, lead_id=lead_id, lender_id=lender_id), robust=True)


def submit_enqueue(*, lead_id: int) -> None:
    transaction.on_commit(lambda: task_send(LENDER_SUBMIT, lead_id=lead_id), robust=True)
