"""Bulk retry: "retry every lead that lender X failed technically between T1 and T2", at the
decision or the submission. Staff see how many leads (and a sample of their tracking IDs) in a
preview, then confirm; a task works through the leads in batches, each through the single-lead
retry (apps/leads/staff_actions.py: same tracking ID, same idempotency key, on the lead's
timeline and in the audit log).

Confirming twice is harmless: the confirmation is a conditional UPDATE of the preview's row
(previewed → running), only one bulk retry per lender and stage runs at a time (a partial unique
constraint), a lead is retried only while it is still failed (under its row lock), and a batch's
progress commits with its retries, so a batch that runs twice finds its leads done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from apps.backoffice.models import BulkRetry
from apps.leads.enqueue import task_send
from apps.leads.models import Lead, LeadStatus
from apps.leads.staff_actions import LeadActionRefused, lead_staff_act

PERMISSION = "leads.retry_lead"
TASK = "apps.backoffice.tasks.bulk_retry_batch"
FAILED = {BulkRetry.Stage.DECISION: LeadStatus.DECISION_FAILED,
          BulkRetry.Stage.SUBMISSION: LeadStatus.SUBMISSION_FAILED}
SAMPLE_SIZE = 10


class BulkRetryRefused(Exception):
    """Not allowed (permission, state, another run): the message says why, for staff."""


@dataclass(frozen=True)
class Preview:
    bulk_retry: BulkRetry
    sample: list[str]  # tracking IDs


def failed_leads(*, lender_id: int, stage: str, failed_from: datetime, failed_to: datetime) -> QuerySet[Lead]:
    """Leads of the lender still failed at that stage, whose failure (the move into the failed
    status, which sets updated_at) falls in [failed_from, failed_to). Served by the (status,
    updated_at) index."""
    return Lead.objects.filter(status=FAILED[stage], updated_at__gte=failed_from, updated_at__lt=failed_to,
                               lender_id=lender_id)


def bulk_retry_preview(*, lender, stage: str, failed_from: datetime, failed_to: datetime, reason: str,
                       staff) -> Preview:
    if not staff.has_perm(PERMISSION):
        raise BulkRetryRefused("You may not retry leads.")
    if failed_from >= failed_to:
        raise BulkRetryRefused("The period must start before it ends.")
    leads = failed_leads(lender_id=lender.pk, stage=stage, failed_from=failed_from, failed_to=failed_to)
    bulk = BulkRetry.objects.create(
        lender=lender, stage=stage, failed_from=failed_from, failed_to=failed_to, requested_by=staff,
        reason=" ".join(reason.split())[:400], previewed_count=leads.count(),
    )
    sample = list(leads.order_by("updated_at").values_list("tracking_id", flat=True)[:SAMPLE_SIZE])
    return Preview(bulk_retry=bulk, sample=sample)


def bulk_retry_confirm(*, bulk_retry_id: int, staff) -> tuple[BulkRetry, bool]:
    """Start the previewed bulk retry; returns it and whether this call started it (false: it was
    already confirmed, by an earlier click)."""
    if not staff.has_perm(PERMISSION):
        raise BulkRetryRefused("You may not retry leads.")
    highest = Lead.objects.aggregate(highest=Max("pk"))["highest"] or 0
    try:
        with transaction.atomic():
            started = BulkRetry.objects.filter(
                pk=bulk_retry_id, requested_by=staff, state=BulkRetry.State.PREVIEWED,
            ).update(state=BulkRetry.State.RUNNING, confirmed_at=timezone.now(), max_lead_id=highest)
    except IntegrityError:
        message = "A bulk retry of this lender and stage is already running: wait for it to end."
        raise BulkRetryRefused(message) from None
    bulk = BulkRetry.objects.filter(pk=bulk_retry_id, requested_by=staff).first()
    if bulk is None:
        raise BulkRetryRefused("No such bulk retry of yours.")
    if started:
        bulk_retry_next_batch_enqueue(bulk_retry_id=bulk_retry_id)
    return bulk, bool(started)


def bulk_retry_batch_run(*, bulk_retry_id: int) -> bool:
    """Retry the next batch of the running bulk retry; true when more remain."""
    with transaction.atomic():
        bulk = BulkRetry.objects.select_for_update().select_related("requested_by").filter(
            pk=bulk_retry_id, state=BulkRetry.State.RUNNING).first()
        if bulk is None:
            return False
        staff = bulk.requested_by
        if not staff.is_active or not staff.has_perm(PERMISSION):
            _finish(bulk, BulkRetry.State.STOPPED)
            return False
        lead_ids = list(
            failed_leads(lender_id=bulk.lender_id, stage=bulk.stage, failed_from=bulk.failed_from,
                         failed_to=bulk.failed_to)
            .filter(pk__gt=bulk.last_lead_id, pk__lte=bulk.max_lead_id or 0)
            .order_by("pk").values_list("pk", flat=True)[:settings.BULK_RETRY_BATCH_SIZE]
        )
        for lead_id in lead_ids:
            try:
                with transaction.atomic():
                    lead_staff_act(lead_id=lead_id, action="retry", staff=staff,
                                   text=f"bulk retry {bulk.pk}: {bulk.reason}")
            except LeadActionRefused:  # no longer failed: retried by someone else meanwhile
                bulk.skipped += 1
            else:
                bulk.retried += 1
        if lead_ids:
            bulk.last_lead_id = lead_ids[-1]
        if len(lead_ids) < settings.BULK_RETRY_BATCH_SIZE:
            _finish(bulk, BulkRetry.State.DONE)
            return False
        bulk.save(update_fields=["last_lead_id", "retried", "skipped"])
        return True


def _finish(bulk: BulkRetry, state: str) -> None:
    bulk.state, bulk.finished_at = state, timezone.now()
    bulk.save(update_fields=["state", "finished_at", "last_lead_id", "retried", "skipped"])


def bulk_retry_next_batch_enqueue(*, bulk_retry_id: int) -> None:
    transaction.on_commit(lambda: task_send(TASK, bulk_retry_id=bulk_retry_id), robust=True)


def bulk_retries_resume() -> int:
    """Enqueue a batch of every running bulk retry (the periodic task calls it), so a task the
    broker lost does not leave one running forever; a batch that runs twice does no harm."""
    running = list(BulkRetry.objects.filter(state=BulkRetry.State.RUNNING).values_list("pk", flat=True))
    for bulk_retry_id in running:
        bulk_retry_next_batch_enqueue(bulk_retry_id=bulk_retry_id)
    return len(running)
