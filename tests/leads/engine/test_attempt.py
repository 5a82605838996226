"""The lender call engine, called directly (no Celery) against the sandbox over real HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.leads import services as lead_services
from apps.leads.engine.attempt import lender_prequalify_attempt, lender_submit_attempt
from apps.leads.models import Decision, Lead, LeadEvent, LeadStatus, Submission
from apps.leads.selectors import leads_due_for_lender_work
from apps.lenders.config import idempotency_key
from apps.lenders.models import LenderCall
from tests.factories import CONSUMER_IDENTITY, LeadFactory, LenderFactory, lead_awaiting_decision

PERSONAL = (CONSUMER_IDENTITY["document_number"], CONSUMER_IDENTITY["full_name"], "ana.perez@example.com", "3001234567")


def prequalify(lead):
    return lender_prequalify_attempt(lead_id=lead.pk, lender_id=lead.lender_id)


def calls(lead, capability="prequalify"):
    return list(LenderCall.objects.filter(lead=lead, capability=capability).order_by("attempt"))


def status(lead):
    return Lead.objects.get(pk=lead.pk).status


def last_event(lead):
    return LeadEvent.objects.filter(lead=lead).last()


def test_an_approval_is_recorded_with_its_offers_and_one_completed_call(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    outcome = prequalify(lead)
    assert (outcome.action, outcome.detail) == ("recorded", "approved")
    assert status(lead) == LeadStatus.OFFERED
    decision = Decision.objects.get(lead=lead)
    assert decision.offers.count() >= 2 and decision.lender_reference.startswith("APP-")
    [call] = calls(lead)
    assert (call.attempt, call.outcome, call.http_status, call.request_method) == (1, "approved", 200, "POST")
    assert call.request_url.endswith("/decisions") and call.duration_ms is not None and call.finished_at
    assert call.idempotency_key == idempotency_key(lead.tracking_id, "prequalify")
    assert lead.tracking_id in call.request_body and '"decision":"approved"' in call.response_body.replace(" ", "")


def test_the_stored_request_masks_the_consumers_personal_data(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    prequalify(lead)
    [call] = calls(lead)
    for value in PERSONAL:
        assert value not in call.request_body and value not in call.response_body
    assert '"documentType":"CC"' in call.request_body and '"monthlyIncome":"•••••00"' in call.request_body
    assert "3200000" not in call.request_body


def test_a_second_attempt_after_the_decision_is_stored_does_nothing(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    prequalify(lead)
    outcome = prequalify(lead)
    assert outcome.action == "skipped"
    assert len(calls(lead)) == 1 and Decision.objects.filter(lead=lead).count() == 1


def test_a_rejection_is_recorded_once_and_never_retried(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender, monthly_income=900_000)
    outcome = prequalify(lead)
    assert (outcome.action, outcome.detail) == ("recorded", "rejected")
    assert status(lead) == LeadStatus.NOT_ELIGIBLE
    assert [call.outcome for call in calls(lead)] == ["rejected"]


def test_a_technical_failure_asks_for_a_retry_with_a_floor(sandbox, settings):
    sandbox.script("503")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    outcome = prequalify(lead)
    assert outcome.should_retry and outcome.countdown >= settings.LENDER_RETRY_BACKOFF_SECONDS / 2
    assert status(lead) == LeadStatus.AWAITING_DECISION
    [call] = calls(lead)
    assert (call.outcome, call.http_status) == ("technical_failure", 503) and "503" in call.error


def test_a_429_retry_waits_at_least_the_lenders_retry_after(sandbox):
    sandbox.script("429")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    assert prequalify(lead).countdown == 1.0


def test_the_retry_resends_the_same_tracking_id_and_idempotency_key(sandbox):
    sandbox.script("500")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    prequalify(lead)
    prequalify(lead)
    first, second = calls(lead)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.idempotency_key == second.idempotency_key
    assert first.request_body == second.request_body


def test_the_lead_fails_once_the_lenders_retries_are_spent(sandbox):
    sandbox.lender.max_retries = 1
    sandbox.lender.save()
    sandbox.script("500, 500, 500")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    assert prequalify(lead).action == "retry"
    outcome = prequalify(lead)
    assert outcome.action == "failed"
    assert status(lead) == LeadStatus.DECISION_FAILED
    assert "after 2 attempts" in last_event(lead).message
    assert prequalify(lead).action == "skipped"


def test_the_consumers_try_again_starts_a_fresh_round_of_retries(sandbox):
    sandbox.lender.max_retries = 0
    sandbox.lender.save()
    sandbox.script("500")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    assert prequalify(lead).action == "failed"
    assert lead_services.journey_retry(lead=Lead.objects.get(pk=lead.pk))
    outcome = prequalify(lead)
    assert (outcome.action, outcome.detail) == ("recorded", "approved")
    assert [call.attempt for call in calls(lead)] == [1, 2]


def test_a_refused_api_key_fails_the_lead_for_staff_to_see(sandbox):
    # The sandbox checks the key of the lender its URL names: point another lender at it.
    misconfigured = LenderFactory(base_url=sandbox.lender.base_url, credentials={"api_key": "wrong"})
    lead = lead_awaiting_decision(lender=misconfigured)
    outcome = prequalify(lead)
    assert outcome.action == "failed"
    assert calls(lead)[0].outcome == "permanent_failure" and calls(lead)[0].http_status == 401
    assert status(lead) == LeadStatus.DECISION_FAILED
    assert "credentials" in last_event(lead).message


def test_invalid_data_fails_the_lead_with_the_lenders_own_messages(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender, document_type="XX")
    outcome = prequalify(lead)
    assert outcome.action == "failed"
    [call] = calls(lead)
    assert call.http_status == 422 and "consumer.documentType" in call.error
    assert "consumer.documentType: Must be one of" in last_event(lead).message


def test_a_missing_credential_is_recorded_as_a_permanent_failure(sandbox):
    sandbox.lender.credentials = {}
    sandbox.lender.save()
    lead = lead_awaiting_decision(lender=sandbox.lender)
    outcome = prequalify(lead)
    assert outcome.action == "failed"
    [call] = calls(lead)
    assert call.outcome == "permanent_failure" and "api_key" in call.error
    assert status(lead) == LeadStatus.DECISION_FAILED


def test_a_journey_without_identity_is_failed_without_calling(sandbox):
    lead = LeadFactory(listing__product__lender=sandbox.lender, status=LeadStatus.AWAITING_DECISION)
    assert prequalify(lead).action == "failed"
    assert calls(lead)[0].outcome == "permanent_failure" and calls(lead)[0].http_status is None


def test_a_lead_not_waiting_for_a_decision_is_left_alone(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.DECISION_FAILED)
    assert prequalify(lead).action == "skipped"
    assert calls(lead) == []


def test_an_attempt_in_flight_elsewhere_is_not_duplicated(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    LenderCall.objects.create(lender=sandbox.lender, lead=lead, capability="prequalify", attempt=1,
                              idempotency_key="k", started_at=timezone.now())
    outcome = prequalify(lead)
    assert (outcome.action, outcome.detail) == ("skipped", "another attempt is in flight")


def test_an_attempt_abandoned_by_a_dead_worker_is_closed_and_counted(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    LenderCall.objects.create(lender=sandbox.lender, lead=lead, capability="prequalify", attempt=1,
                              idempotency_key="k", started_at=timezone.now() - timedelta(minutes=5))
    assert prequalify(lead).action == "recorded"
    abandoned, done = calls(lead)
    assert abandoned.outcome == "technical_failure" and "worker was lost" in abandoned.error
    assert (done.attempt, done.outcome) == (2, "approved")


# --- submit ---------------------------------------------------------------------------------


def offered_lead(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    prequalify(lead)
    lead = Lead.objects.get(pk=lead.pk)
    offer = Decision.objects.get(lead=lead).offers.first()
    lead_services.journey_offer_choose(lead=lead, offer_id=offer.pk)
    return lead


def test_a_submission_is_recorded_with_the_portal_redirect(sandbox):
    lead = offered_lead(sandbox)
    # This enqueues lender_submit on commit (to this run's broker, where no worker listens);
    # the test makes the attempt itself.
    lead_services.journey_details_submit(lead=lead, email="ana.perez@example.com", phone="+573001234567")
    outcome = lender_submit_attempt(lead_id=lead.pk)
    assert (outcome.action, outcome.detail) == ("recorded", "submitted")
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.status == LeadStatus.SUBMITTED
    assert lead.redirect_url.endswith(f"/sandbox/portal/{sandbox.lender.code}/sign?ref={lead.lender_reference}")
    [call] = calls(lead, "submit")
    for value in PERSONAL:
        assert value not in call.request_body
    assert lender_submit_attempt(lead_id=lead.pk).action == "skipped"
    assert Submission.objects.filter(lead=lead).count() == 1


# --- the sweep's selection --------------------------------------------------------------------


def test_the_sweep_picks_only_journeys_stuck_without_recent_calls(sandbox, settings):
    stale = timezone.now() - timedelta(seconds=settings.LENDER_SWEEP_STALE_SECONDS + 5)
    stuck = lead_awaiting_decision(lender=sandbox.lender)
    retrying = lead_awaiting_decision(lender=sandbox.lender)
    fresh = lead_awaiting_decision(lender=sandbox.lender)
    decided = lead_awaiting_decision(lender=sandbox.lender)
    Lead.objects.filter(pk__in=[stuck.pk, retrying.pk, decided.pk]).update(updated_at=stale)
    Lead.objects.filter(pk=decided.pk).update(status=LeadStatus.OFFERED)
    LenderCall.objects.create(lender=sandbox.lender, lead=retrying, capability="prequalify", attempt=1,
                              idempotency_key="k", started_at=timezone.now(), outcome="technical_failure")
    due = leads_due_for_lender_work(stale_before=timezone.now() - timedelta(seconds=60), limit=100)
    assert [lead.pk for lead in due] == [stuck.pk]
    assert fresh.pk not in [lead.pk for lead in due]


@pytest.mark.parametrize("income, expected", [(900_000, LeadStatus.NOT_ELIGIBLE), (2_500_777, LeadStatus.DECISION_PENDING)])
def test_every_kind_of_decision_moves_the_lead(sandbox, income, expected):
    lead = lead_awaiting_decision(lender=sandbox.lender, monthly_income=income)
    prequalify(lead)
    assert status(lead) == expected
