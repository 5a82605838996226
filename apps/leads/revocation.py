"""The consumer revokes the consent they gave for a journey (Ley 1581 de 2012, art. 8 e).

`consent_revoke` records it once, under the lead's lock, and from then on the journey shares
nothing more: the services refuse every step that would (services.ConsentRevoked), the lender
engine makes no call for it (engine/attempt.py checks `Lead.consent_revoked_at` under the lock it
claims work with), and in compare mode every ask still open is ended in the same transaction, so
an attempt waiting on an ask's lock finds it ended.

The lenders that had received the data are told: one RevocationNotice per lender. A lender whose
adapter `supports_revocation` is told through its API by a task (`revocation_notice_send`, ids
only, retried on technical failures; a permanent failure or a spent budget leaves the notice
failed for staff); the others are a task for staff, listed in admin with the lender's privacy
contact, which staff mark done once they have written to it. The consumer gets an email through
the notifications path (a LeadNotification row, topic CONSENT_REVOKED).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.leads.consents import consent_recipients
from apps.leads.enqueue import REVOCATION_NOTICE_SEND, task_send
from apps.leads.engine.outcomes import Action, AttemptOutcome
from apps.leads.models import CONSENT_REVOKED, Decision, DecisionRequest, Lead, LeadEvent, RevocationNotice
from apps.leads.moves import lead_event_add
from apps.leads.services import lead_notify
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import AdapterConfigurationError, RevocationRequest
from apps.lenders.calls import CallFailed, CallRefused, lender_call_open, lender_call_send
from apps.lenders.config import retry_countdown
from apps.lenders.models import POSTBACK_SECRET_FIELDS, Lender, LenderCall
from prosperas.sql import instance_by_pk

logger = logging.getLogger(__name__)

# Why a compare-mode ask ended when the consumer revoked their consent.
ASK_ENDED = "The consumer revoked their consent: this lender is not asked."
# How long to wait before trying again a lender call refused because another is in flight.
IN_FLIGHT_WAIT_SECONDS = 5.0


class NothingToRevoke(Exception):
    """The journey holds no consent (the consumer never gave their data)."""


@transaction.atomic
def consent_revoke(*, lead: Lead) -> bool:
    """Record the consumer's revocation of the journey's consent and set off what follows it (the
    lenders told, the consumer's email), once: True when this call revoked it, False when it was
    revoked already (a double click, a second tab)."""
    # Not FOR UPDATE, which would deadlock with a worker's claim holding an ask below (rows.lead_locked).
    lead = Lead.objects.select_for_update(of=("self",), no_key=True).get(pk=lead.pk)
    if lead.consent_revoked_at is not None:
        return False
    if not lead.consents.exists():
        raise NothingToRevoke("This journey has no consent to revoke.")
    now = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(consent_revoked_at=now, updated_at=now)
    lead.consent_revoked_at = now
    # Compare mode: lock and end every open ask, so an attempt that waits on one finds it ended.
    open_asks = DecisionRequest.objects.select_for_update().filter(lead=lead, state=DecisionRequest.State.ASKED)
    ended = DecisionRequest.objects.filter(pk__in=list(open_asks.values_list("pk", flat=True))).update(
        state=DecisionRequest.State.FAILED, failure=ASK_ENDED, updated_at=now)
    notices = _notices_create(lead)
    lead_event_add(lead, LeadEvent.Kind.CONSENT_REVOKED,
                   f"{len(notices)} lenders to tell; {ended} open asks ended")
    for notice in notices:
        if notice.channel == RevocationNotice.Channel.API:
            transaction.on_commit(lambda pk=notice.pk: task_send(REVOCATION_NOTICE_SEND, notice_id=pk), robust=True)
    lead_notify(lead, CONSENT_REVOKED)
    return True


def _notices_create(lead: Lead) -> list[RevocationNotice]:
    notices = [
        RevocationNotice(lead=lead, lender=lender, channel=RevocationNotice.Channel.API
                         if _takes_revocation(lender) else RevocationNotice.Channel.STAFF)
        for lender in consent_recipients(lead)
    ]
    RevocationNotice.objects.bulk_create(notices, ignore_conflicts=True)
    return list(RevocationNotice.objects.filter(lead=lead))


def _takes_revocation(lender: Lender) -> bool:
    try:
        return adapter_class(lender.adapter).supports_revocation
    except AdapterConfigurationError:
        return False  # an adapter no longer registered: staff tell the lender


def revocation_notice_send(*, notice_id: int) -> AttemptOutcome:
    """Tell one lender through its API that the consumer revoked their consent. Safe to run any
    number of times: a notice done is left alone, the lender call is idempotent by the journey's
    tracking ID, and one attempt at a time is in flight (the LenderCall's lease)."""
    notice = RevocationNotice.objects.select_related("lead").filter(pk=notice_id).first()
    if notice is None or notice.channel != RevocationNotice.Channel.API or notice.state != RevocationNotice.State.PENDING:
        return AttemptOutcome(Action.SKIPPED, detail="nothing to send")
    lender = instance_by_pk(Lender, notice.lender_id, exclude=POSTBACK_SECRET_FIELDS)
    lead = notice.lead
    with transaction.atomic():
        RevocationNotice.objects.select_for_update().filter(pk=notice.pk).first()
        call = lender_call_open(lender=lender, lead_id=lead.pk, capability=LenderCall.Capability.REVOKE,
                                tracking_id=lead.tracking_id)
    if call is CallRefused.IN_FLIGHT:
        return AttemptOutcome(Action.RETRY, countdown=IN_FLIGHT_WAIT_SECONDS, detail=call.value)
    if isinstance(call, CallRefused):  # the lender's circuit is open: later, when it may answer
        return AttemptOutcome(Action.RETRY, countdown=retry_countdown(lender.max_retries + 1), detail=call.value)
    request = RevocationRequest(tracking_id=lead.tracking_id, revoked_at=lead.consent_revoked_at.isoformat(),
                                lender_reference=_lender_reference(lead, lender))
    try:
        lender_call_send(call=call, lender=lender,
                         send=lambda adapter: adapter.revoke(request, idempotency_key=call.idempotency_key))
    except CallFailed as failure:
        return _failed(notice, lender, call, failure)
    RevocationNotice.objects.filter(pk=notice.pk, state=RevocationNotice.State.PENDING).update(
        state=RevocationNotice.State.DONE, error="", done_at=timezone.now())
    logger.info("revocation sent: lead=%s lender=%s call=%s", lead.pk, lender.pk, call.pk)
    return AttemptOutcome(Action.RECORDED, call_id=call.pk, detail="revoked")


def _lender_reference(lead: Lead, lender: Lender) -> str:
    """The lender's own reference of the application: its decision's, else the journey's."""
    reference = (Decision.objects.filter(lead=lead, lender=lender).exclude(lender_reference="")
                 .values_list("lender_reference", flat=True).first())
    return reference or (lead.lender_reference if lead.lender_id == lender.pk else "")


def _failed(notice: RevocationNotice, lender: Lender, call: LenderCall, failure: CallFailed) -> AttemptOutcome:
    """A technical failure is retried while the lender's retry budget lasts; after that, or on a
    permanent failure, the notice is left failed for staff to follow up by hand."""
    failures = LenderCall.objects.filter(
        lead_id=notice.lead_id, lender=lender, capability=LenderCall.Capability.REVOKE,
        outcome=LenderCall.Outcome.TECHNICAL_FAILURE).count()
    if failure.technical and failures <= lender.max_retries:
        return AttemptOutcome(Action.RETRY, call_id=call.pk, countdown=retry_countdown(failures, failure.retry_after),
                              detail=failure.message)
    RevocationNotice.objects.filter(pk=notice.pk, state=RevocationNotice.State.PENDING).update(
        state=RevocationNotice.State.FAILED, error=failure.message[:512])
    logger.warning("revocation not delivered: lead=%s lender=%s; staff to follow up", notice.lead_id, lender.pk)
    return AttemptOutcome(Action.FAILED, call_id=call.pk, detail=failure.message)


@transaction.atomic
def revocation_notice_done(*, notice_id: int, user) -> bool:
    """Staff told the lender by hand (its privacy contact): the notice is done. Once."""
    return bool(RevocationNotice.objects.filter(pk=notice_id).exclude(state=RevocationNotice.State.DONE).update(
        state=RevocationNotice.State.DONE, done_at=timezone.now(), done_by=user))


def revocation_notices_due(*, older_than_seconds: int) -> list[int]:
    """API notices still pending after `older_than_seconds`: their task was lost (the sweep)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(RevocationNotice.objects.filter(
        channel=RevocationNotice.Channel.API, state=RevocationNotice.State.PENDING, created_at__lt=cutoff,
    ).values_list("pk", flat=True)[:500])
