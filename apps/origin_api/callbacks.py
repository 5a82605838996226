"""Callbacks to origins: what happened to their leads recorded as events, and each event POSTed
to the origin's webhook, signed (apps.origin_api.webhooks), at least once.

- `origin_lead_sync` reads a lead as the origin does (selectors.origin_lead_view) and records
  what is new since the last time: a status change, a lender's outcome. Each event is recorded
  once (unique by lead, type and key), so a sync that runs twice records nothing twice, and its
  id is stable: the origin deduplicates on `webhook-id`. It runs when a journey changes
  (apps.leads.signals.lead_changed, receivers.py) and from the sweep (a search's deadline
  passes with no write to tell of it).
- `callback_delivery_attempt` claims a due delivery with a conditional UPDATE (a task that runs
  twice sends once), logs the attempt as a row before the request and completes it after, and
  on a non-2xx or no answer sets the next try: FIRST_RETRY, then three times longer each time (at
  most 6 h), until ORIGIN_CALLBACK_RETRY_HOURS after the event, then gives up.
- Bodies hold the lead as GET /api/v1/leads/{uuid} shows it at that moment: the origin's own
  ids, statuses, offers and reasons; none of the borrower's data.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.lenders.http import AdapterError, LenderHttpClient
from apps.origin_api.models import (
    CallbackAttempt,
    CallbackDelivery,
    Environment,
    OriginEvent,
    OriginLead,
    OriginWebhook,
    WebhookSecret,
)
from apps.origin_api.selectors import LeadView, origin_lead_view
from apps.origin_api.serializers import LeadSerializer
from apps.origin_api.statuses import ApiStatus
from apps.origin_api.webhooks import callback_url_problems, secret_generate, signed_headers

logger = logging.getLogger(__name__)

# A claimed delivery is due again after this, should its worker die mid-request.
CLAIM_SECONDS = 60
MAX_RETRY_DELAY_SECONDS = 6 * 3600
RESPONSE_EXCERPT_CHARS = 500
# Statuses a search may still leave: the sweep looks at leads past their deadline without a later one.
SEARCH_OVER = [s.value for s in ApiStatus if s not in (ApiStatus.CREATED, ApiStatus.IN_PROGRESS,
                                                        ApiStatus.FINDING_PRODUCTS)]


# --- Events ----------------------------------------------------------------------------------------


def event_id_new() -> str:
    return f"evt_{uuid.uuid4().hex}"


def _json_safe(data) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _status_payload(view: LeadView, now: datetime) -> dict:
    return {"type": OriginEvent.Type.STATUS_CHANGED.value, "timestamp": now.isoformat(),
            "data": _json_safe(LeadSerializer(view).data)}


def _outcome_payload(view: LeadView, outcome, now: datetime) -> dict:
    origin_lead = view.origin_lead
    return {"type": OriginEvent.Type.LENDER_OUTCOME.value, "timestamp": now.isoformat(), "data": {
        "uuid": str(origin_lead.uuid), "partnerLeadId": origin_lead.partner_lead_id,
        "trackingId": view.lead.tracking_id, "lenderCode": outcome.lender_code, "lenderName": outcome.lender_name,
        "outcome": outcome.outcome, "offers": outcome.offers, "status": view.status.value,
    }}


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    retry_in: float | None  # seconds until the next try; None: delivered, given up, or not ours to try


@dataclass(frozen=True)
class Synced:
    event_ids: list[int]
    attempts: list[tuple[int, AttemptResult]]  # (delivery id, its first try)


def origin_lead_sync(*, lead_id: int, deliver: bool = True) -> Synced:
    """Record what is new of the API lead of journey `lead_id` (nothing for a hosted-flow lead)
    and, with `deliver`, try each new callback at once. Syncs of one lead take turns on its row."""
    with transaction.atomic():
        origin_lead = (OriginLead.objects.select_for_update(of=("self",)).select_related("lead__chosen_offer")
                       .filter(lead_id=lead_id).first())
        if origin_lead is None:
            return Synced(event_ids=[], attempts=[])
        now = timezone.now()
        view = origin_lead_view(origin_lead, now=now)
        known = set(OriginEvent.objects.filter(origin_lead=origin_lead).values_list("type", "key"))
        wanted = [(OriginEvent.Type.LENDER_OUTCOME, outcome.lender_code, _outcome_payload(view, outcome, now))
                  for outcome in view.outcomes]
        if view.status != ApiStatus.CREATED:  # the 201 told the origin of `created`
            wanted.append((OriginEvent.Type.STATUS_CHANGED, view.status.value, _status_payload(view, now)))
        events = [OriginEvent(public_id=event_id_new(), origin_lead=origin_lead, origin_id=origin_lead.origin_id,
                              environment=origin_lead.environment, type=kind, key=key, payload=payload, created_at=now)
                  for kind, key, payload in wanted if (kind.value, key) not in known]
        OriginEvent.objects.bulk_create(events)
        delivery_ids = _deliveries_create(origin_lead, events, now)
    attempts = [(delivery_id, callback_delivery_attempt(delivery_id=delivery_id))
                for delivery_id in (delivery_ids if deliver else [])]
    return Synced(event_ids=[event.pk for event in events], attempts=attempts)


def _deliveries_create(origin_lead: OriginLead, events: list[OriginEvent], now: datetime) -> list[int]:
    webhook = OriginWebhook.objects.filter(origin_id=origin_lead.origin_id, environment=origin_lead.environment,
                                           is_active=True).first()
    if webhook is None or not events:
        return []
    retry_until = now + timedelta(hours=settings.ORIGIN_CALLBACK_RETRY_HOURS)
    deliveries = CallbackDelivery.objects.bulk_create(
        [CallbackDelivery(event=event, webhook=webhook, next_attempt_at=now, retry_until=retry_until)
         for event in events])
    return [delivery.pk for delivery in deliveries]


# --- Deliveries ------------------------------------------------------------------------------------


def retry_delay_seconds(attempts: int) -> float:
    """The wait after `attempts` failed tries: the first retry delay times 3^(attempts-1), at most
    6 h, with ±10 % jitter (never below 90 % of the nominal delay: no near-zero retry)."""
    nominal = min(settings.ORIGIN_CALLBACK_FIRST_RETRY_SECONDS * 3 ** max(attempts - 1, 0), MAX_RETRY_DELAY_SECONDS)
    return nominal * random.uniform(0.9, 1.1)  # noqa: S311 - spreading retries, not a secret


def secrets_in_use(webhook: OriginWebhook, now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    return [row.secret for row in WebhookSecret.objects.filter(webhook=webhook).order_by("-created_at")
            if row.retires_at is None or row.retires_at > now]


def callback_delivery_attempt(*, delivery_id: int, by_staff: bool = False) -> AttemptResult:
    """One try of a due delivery; a delivery another worker holds, or not due, is left alone."""
    now = timezone.now()
    claimed = CallbackDelivery.objects.filter(
        pk=delivery_id, state=CallbackDelivery.State.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    if not claimed:
        return AttemptResult(delivered=False, retry_in=None)
    delivery = CallbackDelivery.objects.select_related("event", "webhook").get(pk=delivery_id)
    attempt = CallbackAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=now,
                                             by_staff=by_staff)
    status, error, excerpt, duration_ms = _post(delivery, now)
    CallbackAttempt.objects.filter(pk=attempt.pk).update(http_status=status, error=error[:300],
                                                         response_excerpt=excerpt, duration_ms=duration_ms)
    if status is not None and 200 <= status < 300:
        CallbackDelivery.objects.filter(pk=delivery_id).update(state=CallbackDelivery.State.DELIVERED,
                                                               delivered_at=timezone.now())
        return AttemptResult(delivered=True, retry_in=None)
    delay = retry_delay_seconds(delivery.attempts)
    next_at = timezone.now() + timedelta(seconds=delay)
    if next_at > delivery.retry_until:
        CallbackDelivery.objects.filter(pk=delivery_id).update(state=CallbackDelivery.State.FAILED)
        logger.warning("callback %s given up after %s attempts", delivery.event.public_id, delivery.attempts)
        return AttemptResult(delivered=False, retry_in=None)
    CallbackDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=next_at)
    return AttemptResult(delivered=False, retry_in=delay)


def _post(delivery: CallbackDelivery, now: datetime) -> tuple[int | None, str, str, int]:
    """POST the event's body, signed with every secret in use: (status, error, excerpt, ms)."""
    signing = secrets_in_use(delivery.webhook, now)
    if not signing:
        return None, "The webhook has no secret in use: nothing is sent unsigned.", "", 0
    body = json.dumps(delivery.event.payload, separators=(",", ":"), ensure_ascii=True)
    headers = signed_headers(secrets_in_use=signing, message_id=delivery.event.public_id, timestamp=now, body=body)
    client = LenderHttpClient(base_url=delivery.webhook.url, timeout_seconds=settings.ORIGIN_CALLBACK_TIMEOUT_SECONDS)
    try:
        response = client.request("POST", delivery.webhook.url, raw_json=body.encode(), headers=headers)
    except AdapterError as failure:
        exchange = failure.exchange
        return None, failure.message, "", exchange.duration_ms if exchange else 0
    excerpt = response.body[:RESPONSE_EXCERPT_CHARS].decode("utf-8", "replace")
    return response.status, "", excerpt, response.exchange.duration_ms or 0


@transaction.atomic
def callback_redeliver(*, delivery_ids: list[int]) -> int:
    """Staff's redelivery: each delivery is due now again, with a fresh retry window (a given-up
    one too). The same event id goes out, so an origin that already has it drops it."""
    return CallbackDelivery.objects.filter(pk__in=delivery_ids).update(
        state=CallbackDelivery.State.PENDING, next_attempt_at=timezone.now(),
        retry_until=timezone.now() + timedelta(hours=settings.ORIGIN_CALLBACK_RETRY_HOURS))


# --- The sweep -------------------------------------------------------------------------------------


def callbacks_due(*, limit: int = 500) -> list[int]:
    """Deliveries due now (a retry, or one whose task was lost), oldest first."""
    return list(CallbackDelivery.objects.filter(state=CallbackDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
                .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def searches_past_deadline(*, limit: int = 200) -> list[int]:
    """Journeys of API leads whose search deadline passed in the last day with no outcome told yet:
    their `timed_out` (or final outcome) happened with no write to set off a sync."""
    now = timezone.now()
    told = OriginEvent.objects.filter(type=OriginEvent.Type.STATUS_CHANGED, key__in=SEARCH_OVER).values("origin_lead_id")
    return list(OriginLead.objects.filter(search_deadline__lte=now, search_deadline__gt=now - timedelta(days=1))
                .exclude(pk__in=told).order_by("search_deadline").values_list("lead_id", flat=True)[:limit])


# --- Webhooks: where, and the secrets -----------------------------------------------------------------


class CallbackUrlInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(" ".join(problems))


@dataclass(frozen=True)
class WebhookConfigured:
    webhook: OriginWebhook
    secret: str | None  # in clear, the only time it is seen; None when the secret was kept


@transaction.atomic
def origin_webhook_set(*, origin, environment: str, url: str) -> WebhookConfigured:
    """The origin's callback URL in that environment (validated: callback_url_problems); a new
    webhook gets its first secret, returned in clear once."""
    problems = callback_url_problems(url, production=environment == Environment.PRODUCTION)
    if problems:
        raise CallbackUrlInvalid(problems)
    webhook, created = OriginWebhook.objects.update_or_create(origin=origin, environment=environment,
                                                              defaults={"url": url, "is_active": True})
    if not created and WebhookSecret.objects.filter(webhook=webhook, retires_at__isnull=True).exists():
        return WebhookConfigured(webhook=webhook, secret=None)
    secret = secret_generate()
    WebhookSecret.objects.create(webhook=webhook, secret=secret)
    return WebhookConfigured(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_secret_rotate(*, webhook: OriginWebhook, overlap: timedelta | None = None) -> str:
    """A new secret for the webhook; the ones in use keep signing alongside it for `overlap`
    (ORIGIN_API_ROTATION_OVERLAP_HOURS by default), so the origin can switch without a callback
    it cannot verify. Returns the new secret in clear, the only time it is seen."""
    if overlap is None:
        overlap = timedelta(hours=settings.ORIGIN_API_ROTATION_OVERLAP_HOURS)
    list(OriginWebhook.objects.select_for_update().filter(pk=webhook.pk).values_list("pk"))  # one rotation at a time
    retires_at = timezone.now() + overlap
    earlier = WebhookSecret.objects.filter(webhook=webhook)
    earlier.filter(retires_at__isnull=True).update(retires_at=retires_at)
    earlier.filter(retires_at__gt=retires_at).update(retires_at=retires_at)
    secret = secret_generate()
    WebhookSecret.objects.create(webhook=webhook, secret=secret)
    return secret
