"""Callbacks to origins (apps.origin_api.callbacks): events recorded once with stable ids, POSTed
over real loopback HTTP to a receiver that verifies them with the `standardwebhooks` library,
retried on a non-2xx or no answer with every attempt a row, given up after the window, redelivered
by staff; secret rotation signs with both secrets during the overlap."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from apps.leads.engine.results import decision_record, decision_store
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.origin_api import callbacks
from apps.origin_api.models import CallbackAttempt, CallbackDelivery, OriginEvent, OriginLead, WebhookSecret
from apps.origin_api.webhooks import callback_url_problems, secret_generate, signed_headers
from prosperas.celery import app as celery_app
from tests.origin_api.conftest import PERSONAL_VALUES, lead_body
from tests.origin_api.receiver import CallbackReceiver, payload_types
from tests.origin_api.test_selectors import _offer

TOKEN = "k3J9xQ2mP7vR4tW8zL1nB6cF"


@pytest.mark.parametrize(("url", "production", "ok"), [
    (f"https://wallet.example/hooks/{TOKEN}", True, True),
    (f"https://wallet.example/hooks?key={TOKEN}", True, True),
    (f"http://wallet.example/hooks/{TOKEN}", True, False),  # production needs HTTPS
    (f"http://127.0.0.1:8080/hooks/{TOKEN}", False, True),
    ("https://wallet.example/hooks/prosperas-callbacks-endpoint", True, False),  # words, no random part
    ("https://wallet.example/hooks/12345678901234567890123", True, False),  # a counter
    (f"https://user:pw@wallet.example/hooks/{TOKEN}", True, False),
    ("ftp://wallet.example/x", False, False),
])
def test_a_callback_url_holds_an_unguessable_part_and_uses_https_in_production(url, production, ok):
    assert (callback_url_problems(url, production=production) == []) is ok


def test_every_secret_in_use_signs_so_either_verifies_with_the_standard_library():
    old, new = secret_generate(), secret_generate()
    assert old.startswith("whsec_") and old != new
    body = '{"type":"lead.status_changed"}'
    headers = signed_headers(secrets_in_use=[new, old], message_id="evt_1", timestamp=timezone.now(), body=body)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "lead.status_changed"}
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret_generate()).verify(body, headers)


@pytest.fixture
def receiver():
    receiver = CallbackReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hooked(db, caller, receiver):
    """The caller's origin with its callback URL at the receiver, which knows the secret."""
    configured = callbacks.origin_webhook_set(origin=caller.origin, environment="staging", url=receiver.url)
    receiver.secrets_known.append(configured.secret)
    return configured.webhook


def _lead(caller):
    uuid = caller.post_lead(lead_body()).json()["uuid"]
    return OriginLead.objects.select_related("lead").get(uuid=uuid)


def test_each_change_is_recorded_once_and_posted_signed_with_a_stable_id(caller, market, hooked, receiver):
    _origin, (alfa, beta) = market
    origin_lead = _lead(caller)
    lead_id = origin_lead.lead_id
    decision_record(lead_id=lead_id, lender_id=alfa.pk, result=DecisionResult(
        decision=DecisionKind.APPROVED, offers=(_offer("A-1", 3_000_000, 160_000),)))
    first = callbacks.origin_lead_sync(lead_id=lead_id)
    assert callbacks.origin_lead_sync(lead_id=lead_id).event_ids == []  # nothing new: nothing twice
    decision_store(lead_id=lead_id, lender=beta, result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    second = callbacks.origin_lead_sync(lead_id=lead_id)

    assert all(result.delivered for _id, result in first.attempts + second.attempts)
    payloads = receiver.verified()
    assert payload_types(payloads) == [
        ("lead.lender_outcome", "alfa"), ("lead.status_changed", "finding_products"),
        ("lead.lender_outcome", "beta"), ("lead.status_changed", "offers_found")]
    final = payloads[-1]["data"]
    assert final["uuid"] == str(origin_lead.uuid) and final["partnerLeadId"] == "wallet-000123"
    assert final["offers"]["requested"][0]["lenderCode"] == "alfa"
    ids = [item.headers["webhook-id"] for item in receiver.received]
    assert ids == list(OriginEvent.objects.filter(origin_lead=origin_lead).order_by("id")
                       .values_list("public_id", flat=True))
    bodies = b"".join(item.body for item in receiver.received).decode()
    assert not any(value in bodies for value in PERSONAL_VALUES)


def _deliver_when_due(delivery_id: int) -> callbacks.AttemptResult:
    delivery = CallbackDelivery.objects.get(pk=delivery_id)
    time.sleep(max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds()) + 0.01)
    return callbacks.callback_delivery_attempt(delivery_id=delivery_id)


def test_a_non_2xx_or_no_answer_is_retried_with_growing_delays_every_attempt_a_row(caller, market, hooked, receiver):
    receiver.answers[:] = [500, 500, 503]  # the sync's two callbacks, then the first one's retry
    origin_lead = _lead(caller)
    decision_store(lead_id=origin_lead.lead_id, lender=market[1][0],
                   result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    synced = callbacks.origin_lead_sync(lead_id=origin_lead.lead_id)
    delivery_id, first = synced.attempts[0]
    assert not first.delivered and 0.45 <= first.retry_in <= 0.55
    assert callbacks.callback_delivery_attempt(delivery_id=delivery_id).retry_in is None  # not due yet: untouched
    second = _deliver_when_due(delivery_id)
    assert not second.delivered and second.retry_in > 1.3  # three times the first delay
    assert _deliver_when_due(delivery_id).delivered

    attempts = list(CallbackAttempt.objects.filter(delivery_id=delivery_id).values_list("number", "http_status"))
    assert attempts == [(1, 500), (2, 503), (3, 204)]
    event_id = CallbackDelivery.objects.get(pk=delivery_id).event.public_id
    assert sum(item.headers["webhook-id"] == event_id for item in receiver.received) == 3
    assert CallbackDelivery.objects.get(pk=delivery_id).state == CallbackDelivery.State.DELIVERED


def test_no_answer_is_an_attempt_and_the_delivery_is_given_up_after_its_window(caller, market, hooked, receiver,
                                                                               settings):
    receiver.stop()  # the origin's server is gone: connection refused
    settings.ORIGIN_CALLBACK_RETRY_HOURS = 1 / 3600  # a one-second window: room for one retry, not two
    origin_lead = _lead(caller)
    decision_store(lead_id=origin_lead.lead_id, lender=market[1][0],
                   result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    synced = callbacks.origin_lead_sync(lead_id=origin_lead.lead_id)
    delivery_id, first = synced.attempts[0]
    assert not first.delivered and first.retry_in is not None
    second = _deliver_when_due(delivery_id)
    assert second == callbacks.AttemptResult(delivered=False, retry_in=None)
    delivery = CallbackDelivery.objects.get(pk=delivery_id)
    assert delivery.state == CallbackDelivery.State.FAILED and delivery.attempts == 2
    errors = list(CallbackAttempt.objects.filter(delivery=delivery).values_list("http_status", "error"))
    assert all(status is None and error for status, error in errors)


def test_staff_redeliver_from_admin_and_see_every_attempt(caller, market, hooked, receiver, admin_client):
    origin_lead = _lead(caller)
    decision_store(lead_id=origin_lead.lead_id, lender=market[1][0],
                   result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    delivery_id, _first = callbacks.origin_lead_sync(lead_id=origin_lead.lead_id).attempts[0]
    celery_app.conf.task_always_eager = True
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("django.db.transaction.on_commit", lambda func, **kw: func())
            response = admin_client.post(reverse("admin:origin_api_callbackdelivery_changelist"),
                                         {"action": "redeliver", "_selected_action": [delivery_id]})
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302
    attempts = list(CallbackAttempt.objects.filter(delivery_id=delivery_id).values_list("number", "by_staff"))
    assert attempts == [(1, False), (2, True)]
    event_id = CallbackDelivery.objects.get(pk=delivery_id).event.public_id
    assert sum(item.headers["webhook-id"] == event_id for item in receiver.received) == 2
    page = admin_client.get(reverse("admin:origin_api_callbackdelivery_change", args=[delivery_id]))
    assert page.status_code == 200 and b"lead.lender_outcome" in page.content


def test_rotating_the_secret_keeps_the_old_one_signing_during_the_overlap(caller, market, hooked, receiver):
    old = receiver.secrets_known[0]
    new = callbacks.webhook_secret_rotate(webhook=hooked, overlap=timedelta(hours=1))
    assert callbacks.secrets_in_use(hooked) == [new, old]
    receiver.secrets_known[:] = [old]  # an origin that has not switched yet still verifies
    origin_lead = _lead(caller)
    decision_store(lead_id=origin_lead.lead_id, lender=market[1][0],
                   result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    callbacks.origin_lead_sync(lead_id=origin_lead.lead_id)
    assert receiver.received[0].payload is not None
    assert receiver.received[0].headers["webhook-signature"].count("v1,") == 2

    newest = WebhookSecret.objects.filter(webhook=hooked).latest("created_at")
    WebhookSecret.objects.filter(webhook=hooked).exclude(pk=newest.pk).update(retires_at=timezone.now())
    assert callbacks.secrets_in_use(hooked) == [new]


def test_callback_tasks_run_on_their_own_queue():
    for name in ("apps.origin_api.tasks.deliver_callback", "apps.origin_api.tasks.sync_origin_lead"):
        assert celery_app.amqp.router.route({}, name)["queue"].name == "origin_callbacks"


def test_a_step_that_adds_several_timeline_entries_announces_one_change(caller, django_capture_on_commit_callbacks):
    from apps.leads.signals import lead_changed

    received = []
    lead_changed.connect(lambda sender, lead_id, **kw: received.append(lead_id), dispatch_uid="test-announce",
                         weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            caller.post_lead(lead_body("wallet-announce"))
    finally:
        lead_changed.disconnect(dispatch_uid="test-announce")
    origin_lead = OriginLead.objects.get(partner_lead_id="wallet-announce")
    assert origin_lead.lead.events.count() >= 2 and received == [origin_lead.lead_id]


def test_the_sweep_tells_a_search_that_reached_its_deadline_and_finds_due_deliveries(caller, market, hooked, receiver):
    origin_lead = _lead(caller)
    OriginLead.objects.filter(pk=origin_lead.pk).update(search_deadline=timezone.now() - timedelta(seconds=1))
    assert callbacks.searches_past_deadline() == [origin_lead.lead_id]  # nothing wrote when it passed

    receiver.answers[:] = [503]
    synced = callbacks.origin_lead_sync(lead_id=origin_lead.lead_id)
    assert payload_types(receiver.verified()) == [("lead.status_changed", "timed_out")]
    assert not synced.attempts[0][1].delivered  # answered 503: to be tried again
    assert callbacks.searches_past_deadline() == []
    delivery_id = synced.attempts[0][0]
    CallbackDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    assert callbacks.callbacks_due() == [delivery_id]


def test_changes_while_a_sync_waits_in_the_queue_ride_on_it(monkeypatch, settings):
    """The lead's sync is enqueued once while one waits (its mark in the shared Redis cache); the
    task clears the mark as it starts, so the next change enqueues the next sync; with the cache
    down every change enqueues its own."""
    from apps.origin_api import receivers, tasks

    queued = []
    monkeypatch.setattr(tasks.sync_origin_lead, "delay", queued.append)
    monkeypatch.setattr(callbacks, "origin_lead_sync", lambda lead_id: callbacks.Synced(event_ids=[], attempts=[]))
    lead_id = 10**9 + int(time.time() * 1000) % 10**6  # a lead of no other test (the cache is shared)

    receivers.lead_changed_sync(None, lead_id=lead_id)
    receivers.lead_changed_sync(None, lead_id=lead_id)  # a second lender answered meanwhile
    assert queued == [lead_id]

    tasks.sync_origin_lead(lead_id)  # the worker takes it
    receivers.lead_changed_sync(None, lead_id=lead_id)
    assert queued == [lead_id, lead_id]
    tasks.sync_origin_lead(lead_id)

    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                      "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens
    receivers.lead_changed_sync(None, lead_id=lead_id)
    receivers.lead_changed_sync(None, lead_id=lead_id)
    assert queued == [lead_id] * 4
