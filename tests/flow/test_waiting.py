"""Honest waiting and the live page's endpoints, through the views with the lender's side played
by the services the engine calls (apps/leads/waiting.py, apps/flow/live.py)."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.flow import live
from apps.leads.engine.results import decision_record
from apps.leads.models import Lead, LeadEvent, LeadNotification, LeadStatus
from apps.leads.notifications import lead_status_notify
from apps.leads.waiting import WaitStage, journey_wait_stage
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.lenders.models import LenderCall
from tests.flow.conftest import approved

pytestmark = pytest.mark.django_db

EMAIL = "ana.perez@example.com"


def _text(response) -> str:
    return response.content.decode()


def _waited(journey, seconds: float) -> None:
    """As if the consumer gave their identity `seconds` ago."""
    Lead.objects.filter(pk=journey.lead.pk).update(identity_at=timezone.now() - timedelta(seconds=seconds))


def _technical_failure(journey) -> None:
    LenderCall.objects.create(lender_id=journey.lead.lender_id, lead_id=journey.lead.pk,
                              capability=LenderCall.Capability.PREQUALIFY, started_at=timezone.now(), attempt=1,
                              outcome=LenderCall.Outcome.TECHNICAL_FAILURE, error="read timeout")


def _waiting_journey(journey):
    journey.start()
    journey.give_identity()
    return journey.reload()


def test_the_first_seconds_say_it_usually_takes_seconds(journey):
    _waiting_journey(journey)

    page = _text(journey.client.get(journey.url("decision")))

    assert "Suele tardar unos segundos" in page
    assert "tardando más de lo normal" not in page
    assert "/result-email" not in page  # no reason yet to offer leaving


def test_after_the_slow_threshold_the_page_says_it_is_taking_longer_and_offers_the_email(journey, settings):
    settings.FLOW_SLOW_AFTER_SECONDS = 8
    _waiting_journey(journey)
    _waited(journey, 9)

    page = _text(journey.client.get(journey.url("decision")))

    assert journey_wait_stage(journey.reload()) == WaitStage.SLOW
    assert f"{journey.lead.lender.name} está tardando más de lo normal" in page
    assert "Suele tardar unos segundos" not in page
    assert f'action="/j/{journey.lead.public_token}/result-email"' in page
    assert 'data-state="awaiting_decision:slow"' in page


def test_after_a_technical_failure_the_page_says_the_lender_is_slow_and_we_keep_trying(journey):
    _waiting_journey(journey)
    _technical_failure(journey)

    page = _text(journey.client.get(journey.url("decision")))

    assert "está respondiendo lento" in page
    assert "Seguimos intentándolo por ti" in page
    assert f'action="/j/{journey.lead.public_token}/result-email"' in page
    assert journey.client.get(journey.url("state")).json() == {"state": "awaiting_decision:retrying"}


def test_a_failure_before_the_consumers_try_again_does_not_count_in_the_new_round(journey):
    _waiting_journey(journey)
    _technical_failure(journey)
    LenderCall.objects.update(started_at=timezone.now() - timedelta(seconds=30))
    LeadEvent.objects.create(lead=journey.lead, kind=LeadEvent.Kind.RETRY, status=journey.lead.status)

    assert journey_wait_stage(journey.reload()) == WaitStage.USUAL


def test_choosing_the_email_records_it_and_the_decision_sends_it_with_the_status_link(
    journey, django_capture_on_commit_callbacks
):
    _waiting_journey(journey)
    _technical_failure(journey)

    response = journey.client.post(journey.url("result-email"), {"email": f"  {EMAIL} "})
    again = journey.client.post(journey.url("result-email"), {"email": EMAIL})  # a double tap

    assert response.status_code == 303 and response["Location"] == journey.url("decision")
    assert again.status_code == 303
    lead = journey.reload()
    assert lead.email == EMAIL and lead.result_email_requested_at is not None
    assert lead.events.filter(kind=LeadEvent.Kind.RESULT_EMAIL).count() == 1
    assert "te enviaremos la respuesta a tu correo" in _text(journey.client.get(journey.url("decision")))
    assert not LeadNotification.objects.exists()  # nothing decided yet

    with django_capture_on_commit_callbacks() as callbacks:
        journey.lender_decides(approved("OF-001"))
    assert len(callbacks) == 1
    notification = LeadNotification.objects.get()
    assert (notification.lead_status, notification.state) == (LeadStatus.OFFERED, LeadNotification.State.PENDING)

    lead_status_notify(lead_id=lead.pk, status=LeadStatus.OFFERED)  # what the task does
    lead_status_notify(lead_id=lead.pk, status=LeadStatus.OFFERED)  # a redelivered task sends nothing more
    [message] = mail.outbox
    assert message.to == [EMAIL]
    assert "tiene ofertas para ti" in message.subject
    assert f"/j/{lead.public_token}/status" in message.body
    assert str(lead.pk) not in message.subject


def test_a_decision_that_arrived_before_the_choice_is_emailed_at_once(journey, django_capture_on_commit_callbacks):
    _waiting_journey(journey)
    journey.lender_decides(DecisionResult(decision=DecisionKind.PENDING))
    with django_capture_on_commit_callbacks() as callbacks:
        journey.client.post(journey.url("result-email"), {"email": EMAIL})
        Lead.objects.filter(pk=journey.lead.pk).update(status=LeadStatus.NOT_ELIGIBLE)  # raced by the lender
        journey.client.post(journey.url("result-email"), {"email": EMAIL})
    assert len(callbacks) == 1
    assert LeadNotification.objects.get().lead_status == LeadStatus.NOT_ELIGIBLE


def test_no_email_is_sent_about_a_decision_to_a_consumer_who_did_not_ask(journey):
    _waiting_journey(journey)
    journey.lender_fails_to_decide()

    assert not LeadNotification.objects.exists()


def test_a_mistyped_address_is_shown_with_its_error_and_nothing_is_recorded(journey):
    _waiting_journey(journey)
    _technical_failure(journey)

    page = _text(journey.client.post(journey.url("result-email"), {"email": "ana@"}))

    assert "Escribe un correo válido" in page
    assert journey.reload().result_email_requested_at is None


def test_the_email_offer_is_refused_once_the_consumer_has_gone_on(journey):
    journey.to_submitting()

    response = journey.client.post(journey.url("result-email"), {"email": EMAIL})

    assert response.status_code == 303 and journey.reload().result_email_requested_at is None


# --- The event stream ---------------------------------------------------------------------------


def _events(response) -> list[str]:
    return [line for line in b"".join(response.streaming_content).decode().splitlines() if line]


def test_the_stream_says_the_new_state_at_once_and_ends_when_nothing_is_left_to_wait_for(journey):
    journey.to_offered()
    Lead.objects.filter(pk=journey.lead.pk).update(status=LeadStatus.AWAITING_DECISION)

    response = journey.client.get(journey.url("events") + "?shown=awaiting_decision:usual")
    assert response["Content-Type"].startswith("text/event-stream")
    Lead.objects.filter(pk=journey.lead.pk).update(status=LeadStatus.OFFERED)

    assert _events(response) == ["retry: 1000", "data: offered"]


def test_no_stream_when_there_is_nothing_to_wait_for(journey):
    journey.to_offered()

    assert journey.client.get(journey.url("events")).status_code == 204


def test_a_process_serves_a_bounded_number_of_streams(journey, settings, monkeypatch):
    settings.FLOW_LIVE_STREAMS_PER_PROCESS = 1
    monkeypatch.setattr(live, "_slots", None)
    _waiting_journey(journey)

    assert journey.client.get(journey.url("events")).status_code == 200
    assert journey.client.get(journey.url("events")).status_code == 204  # the page polls instead


def test_a_stream_gives_its_slot_back_once_even_if_never_read():
    slots = threading.BoundedSemaphore(1)
    slots.acquire()
    stream = live.LiveStream(lead_id=0, shown="", slots=slots)

    stream.close()  # the browser went away before a byte was read
    stream.close()  # closed again by the server: no second release (a BoundedSemaphore would raise)

    assert slots.acquire(blocking=False)


def test_in_compare_mode_a_failed_ask_is_told_and_the_first_offers_are_emailed_to_a_consumer_who_left(
    client, django_capture_on_commit_callbacks
):
    from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
    from tests.flow.conftest import IDENTITY_FORM

    origin = OriginFactory(code="billetera", name="Billetera", compare_mode=True)
    lenders = [LenderFactory(code=code, name=name) for code, name in (("alfa", "Banco Alfa"), ("beta", "Fintech Beta"))]
    for lender in lenders:
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
    token = client.post(f"/o/{origin.code}/start")["Location"].split("/")[2]
    client.post(f"/j/{token}/identity", IDENTITY_FORM)
    lead = Lead.objects.get(public_token=token)
    LenderCall.objects.create(lender=lenders[0], lead=lead, capability=LenderCall.Capability.PREQUALIFY,
                              started_at=timezone.now(), attempt=1, outcome=LenderCall.Outcome.TECHNICAL_FAILURE)

    page = _text(client.get(f"/j/{token}/decision"))
    assert "Algunas entidades están respondiendo lento" in page and "Respondieron 0 de 2 entidades" in page
    assert client.post(f"/j/{token}/result-email", {"email": EMAIL}).status_code == 303

    with django_capture_on_commit_callbacks() as callbacks:
        decision_record(lead_id=lead.pk, lender_id=lenders[1].pk, result=approved("B-1"))
    assert len(callbacks) == 1
    lead_status_notify(lead_id=lead.pk, status=LeadStatus.OFFERED)
    [message] = mail.outbox
    assert message.subject == "Ya tienes ofertas de crédito"
    assert f"/j/{token}/status" in message.body


def test_without_javascript_the_page_reloads_slowly_while_it_offers_the_email_form(journey):
    _waiting_journey(journey)
    _technical_failure(journey)

    page = _text(journey.client.get(journey.url("decision")))

    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page
    assert f'<a href="/j/{journey.lead.public_token}/decision">Ver si ya hay respuesta</a>' in page
    journey.client.post(journey.url("result-email"), {"email": EMAIL})
    page = _text(journey.client.get(journey.url("decision")))
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
