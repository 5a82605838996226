"""Lender callbacks: a lender whose decision is asynchronous calls our unguessable URL with its
answer (seed 002). The answer is stored as a poll's would be, and the callback itself is kept
as a LenderCall (capability callback), masked."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.utils import timezone

from apps.leads.engine.requests import lead_personal_values
from apps.leads.engine.results import decision_store, lead_fail
from apps.leads.models import Decision, DecisionRequest, Lead
from apps.lenders.adapters.base import CallbackResult, PermanentFailure, TechnicalFailure
from apps.lenders.config import adapter_for, idempotency_key
from apps.lenders.masking import mask_and_truncate, mask_values
from apps.lenders.models import Lender, LenderCall
from apps.lenders.selectors import lender_call_attempt_count
from prosperas.inbound.body import storable_json_object_parse
from prosperas.inbound.refusals import InboundRefused

logger = logging.getLogger(__name__)
Capability = LenderCall.Capability

CALLBACK_MAX_BYTES = 256 * 1024


def lender_callback_receive(*, token: str, body: bytes) -> int:
    """A lender's callback on its unguessable URL: the HTTP status to answer (no body).

    2xx tells the lender to stop sending it (seed 002), so a callback we cannot use yet is
    refused with a status that makes the lender try again: 404 for a journey we do not know (yet:
    the lender may call back before our own record of its first answer is stored), 400 for a
    body we cannot read, 503 while the lender is unknown or its adapter takes no callbacks.
    Every callback that names a journey is kept as a LenderCall (capability callback), masked.
    """
    lender = Lender.objects.filter(callback_token=token, is_active=True).first() if token else None
    if lender is None:
        return 404
    adapter = adapter_for(lender)
    if not adapter.supports_callback:
        return 404
    if len(body) > CALLBACK_MAX_BYTES:
        return 413
    try:  # every style's callback is a JSON object: read strictly, nothing the database cannot hold
        storable_json_object_parse(body)
    except InboundRefused as refusal:
        logger.warning("callback from lender %s refused: %s", lender.code, refusal.message)
        return 400
    started = time.monotonic()
    try:
        parsed = adapter.parse_callback(body)
    except (TechnicalFailure, PermanentFailure) as exc:
        logger.warning("callback from lender %s refused: %s", lender.code, exc.message)
        return 400
    lead = _callback_lead(lender, tracking_id=parsed.tracking_id, lender_reference=parsed.lender_reference)
    if lead is None:
        logger.info("callback from lender %s names no journey of it (yet)", lender.code)
        return 404
    personal = lead_personal_values(lead)
    now = timezone.now()
    call = LenderCall.objects.create(
        lender=lender, lead=lead, capability=Capability.CALLBACK, started_at=now, finished_at=now,
        attempt=lender_call_attempt_count(lead_id=lead.pk, lender_id=lender.pk, capability=Capability.CALLBACK) + 1,
        idempotency_key=idempotency_key(lead.tracking_id, Capability.CALLBACK), request_method="POST",
        request_url="(our callback URL)", request_body=mask_and_truncate(body.decode("utf-8", "replace"), personal,
                                                                         settings.LENDER_CALL_BODY_LIMIT),
        outcome=_callback_outcome(parsed), http_status=204, error=mask_values(parsed.failure, personal),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if parsed.result is not None:
        decision_store(lead_id=lead.pk, lender=lender, result=parsed.result)
    elif parsed.failure and not Decision.objects.filter(lead=lead, lender=lender).exclude(
            outcome=Decision.Outcome.PENDING).exists():
        lead_fail(lead.pk, lender.pk, Capability.PREQUALIFY, parsed.failure)
    logger.info("callback from lender %s recorded as call %s", lender.code, call.pk)
    return 204


def _callback_outcome(parsed: CallbackResult) -> str:
    if parsed.result is not None:
        return str(parsed.result.decision)
    return LenderCall.Outcome.PERMANENT_FAILURE if parsed.failure else LenderCall.Outcome.PENDING


def _callback_lead(lender: Lender, *, tracking_id: str, lender_reference: str) -> Lead | None:
    """The journey a callback names, if this lender was asked about it."""
    if lender_reference:
        decision = Decision.objects.filter(lender=lender, lender_reference=lender_reference).select_related("lead").first()
        if decision is not None:
            return decision.lead
    if tracking_id:
        lead = Lead.objects.filter(tracking_id=tracking_id).first()
        if lead is not None and (
            lead.lender_id == lender.pk or DecisionRequest.objects.filter(lead=lead, lender=lender).exists()
        ):
            return lead
    return None
