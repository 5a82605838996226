"""Writes of the conformance kit, for admin, the management command and (later) the lender portal.

    conformance_run_start(*, lender, environment="staging", user=None, enqueue=True) -> ConformanceRun
        Queue a run against `lender`'s row of `environment` (the lender's staging row when given
        its production row). A run already queued or running for that row is returned instead
        of a new one, so a double click starts one run. With `enqueue`, the run's task is sent on
        commit (Celery); without, the caller runs it (`conformance_run_execute`).

    lender_production_activate(*, lender, user, override_reason="") -> None
        Turn a production row active: needs a valid certificate of its staging counterpart, or
        a reason to override it (recorded, with the user).
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.conformance.models import ConformanceRun
from apps.lenders.activation import (
    activation_is_guarded,
    lender_activation_override_record,
    lender_activation_refusal,
)
from apps.lenders.models import Lender

RUN_TASK = "apps.conformance.tasks.conformance_run"
# The task's hard time limit (apps/conformance/tasks.py): no run lasts longer.
RUN_TIME_LIMIT = 21 * 60
OPEN_STATUSES = (ConformanceRun.Status.QUEUED, ConformanceRun.Status.RUNNING)


class ActivationRefused(Exception):
    """Production activation without a valid certificate and without an override reason."""


def conformance_target(lender: Lender, environment: str) -> Lender:
    """The row a run of `environment` tests: a production row's staging counterpart for staging."""
    if lender.environment == environment:
        return lender
    if environment == Lender.Environment.STAGING and lender.staging_counterpart_id:
        return lender.staging_counterpart
    production = getattr(lender, "production_counterpart", None) if environment == Lender.Environment.PRODUCTION else None
    if production is not None:
        return production
    raise ValidationError(f"{lender.code} has no {environment} row to test.")


def conformance_run_start(*, lender: Lender, environment: str = Lender.Environment.STAGING, user=None,
                          enqueue: bool = True) -> ConformanceRun:
    target = conformance_target(lender, environment)
    _lost_runs_close(target)
    try:
        with transaction.atomic():
            run = ConformanceRun.objects.create(lender=target, environment=target.environment,
                                                requested_by=user if user and user.is_authenticated else None)
            if enqueue:
                transaction.on_commit(
                    lambda: current_app.signature(RUN_TASK, kwargs={"run_id": run.pk}).apply_async(), robust=True)
    except IntegrityError:  # one already queued or running: that one is the answer
        return ConformanceRun.objects.get(lender=target, status__in=OPEN_STATUSES)
    return run


def _lost_runs_close(lender: Lender) -> int:
    """An unfinished run older than the task's hard time limit lost its task (broker down at
    commit, worker killed): closed as an error, so it blocks no new run."""
    cutoff = timezone.now() - timedelta(seconds=RUN_TIME_LIMIT)
    return ConformanceRun.objects.filter(lender=lender, status__in=OPEN_STATUSES, created_at__lt=cutoff).update(
        status=ConformanceRun.Status.ERROR, finished_at=timezone.now(), progress="finished",
        error="The run's task was lost (its worker stopped or the broker lost it): start a new run.",
    )


@transaction.atomic
def lender_production_activate(*, lender: Lender, user, override_reason: str = "") -> None:
    lender = Lender.objects.select_for_update().get(pk=lender.pk)
    if lender.is_active:
        return
    lender.is_active = True
    if activation_is_guarded(lender=lender, was_active=False):
        refusal = lender_activation_refusal(lender)
        if refusal and not override_reason.strip():
            raise ActivationRefused(refusal)
        if refusal:
            lender_activation_override_record(lender=lender, user=user, reason=override_reason.strip(), refusal=refusal)
    lender.save(update_fields=["is_active", "updated_at"])
