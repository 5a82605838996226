"""The periodic sweep: the database, not the broker, says which lender work is due (DESIGN §4)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.leads.enqueue import LENDER_POLL, LENDER_PREQUALIFY, LENDER_SUBMIT, task_send
from apps.leads.selectors import WAITING_ON_LENDER, decision_requests_due, leads_due_for_lender_work, pending_decisions_due
from apps.lenders.circuit import lender_circuits_probe
from apps.lenders.leases import lender_calls_lost_close
from apps.lenders.models import LenderCall

logger = logging.getLogger(__name__)
Capability = LenderCall.Capability
# At most this many pieces of each kind of work per run; the next run takes the rest.
SWEEP_BATCH = 500


def lender_work_sweep() -> int:
    """Re-enqueue lender work whose task was lost, and probe open circuits. Returns how many
    tasks were enqueued.

    The database says which work is due (DESIGN.md §4). A worker killed mid-call leaves its call
    in flight with a lease nobody renews: once it has run out, the call is closed as lost and its
    work enqueued at once (apps/lenders/leases.py). An enqueue lost at commit or a countdown
    dropped by the broker leave a lead waiting with no recent call: enqueued again once it has
    had no news for LENDER_SWEEP_STALE_SECONDS. Re-enqueueing is safe: an attempt that finds the
    work done or in flight does nothing.
    """
    lost = _lost_calls_resume()
    stale_before = timezone.now() - timedelta(seconds=settings.LENDER_SWEEP_STALE_SECONDS)
    leads = leads_due_for_lender_work(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead in leads:
        if WAITING_ON_LENDER[lead.status] == Capability.PREQUALIFY:
            task_send(LENDER_PREQUALIFY, lead_id=lead.pk, lender_id=lead.lender_id)
        else:
            task_send(LENDER_SUBMIT, lead_id=lead.pk)
    asks = decision_requests_due(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead_id, lender_id in asks:
        task_send(LENDER_PREQUALIFY, lead_id=lead_id, lender_id=lender_id)
    pending = pending_decisions_due(stale_before=stale_before, limit=SWEEP_BATCH)
    for lead_id, lender_id in pending:
        task_send(LENDER_POLL, lead_id=lead_id, lender_id=lender_id)
    count = lost + len(leads) + len(asks) + len(pending)
    if count:
        logger.warning("lender sweep re-enqueued %s pieces of lender work", count)
    lender_circuits_probe()
    return count


def _lost_calls_resume() -> int:
    """Enqueue again the work of calls whose worker died (their lease ran out)."""
    lost = lender_calls_lost_close(limit=SWEEP_BATCH)
    for lead_id, lender_id, capability in lost:
        if capability == Capability.PREQUALIFY:
            task_send(LENDER_PREQUALIFY, lead_id=lead_id, lender_id=lender_id)
        elif capability == Capability.POLL:
            task_send(LENDER_POLL, lead_id=lead_id, lender_id=lender_id)
        else:
            task_send(LENDER_SUBMIT, lead_id=lead_id)
    if lost:
        logger.warning("lender sweep: %s calls lost with their worker, their work enqueued again", len(lost))
    return len(lost)
