"""The lender tasks on a real Celery worker (threads pool) calling the sandbox over real HTTP.

The worker is a separate process on the test database; the sandbox is served by live_server.
Effective timeouts and backoff are the shortened test ones (2 s deadline, 0.05-0.5 s backoff).
"""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.campaigns.catalog import CatalogEntry
from apps.leads import services as lead_services
from apps.leads.models import Decision, DecisionRequest, Lead, LeadStatus
from apps.leads.tasks import lender_poll, lender_prequalify, lender_submit, sweep_due_work
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxLenderSettings
from prosperas.celery import app as celery_app
from tests.conftest import start_worker, stop_worker
from tests.factories import (
    CONSUMER_IDENTITY,
    LeadFactory,
    ListingFactory,
    OriginFactory,
    lead_awaiting_decision,
    publish,
    sandbox_lender,
)
from tests.support import wait_until

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PHONE = "ana.perez@example.com", "+573001234567"


def status_of(lead):
    return Lead.objects.get(pk=lead.pk).status


def outcomes(lead, capability="prequalify"):
    return list(LenderCall.objects.filter(lead=lead, capability=capability).order_by("attempt").values_list("outcome", flat=True))


def worker_log(worker) -> str:
    name = worker.args[worker.args.index("-n") + 1].split("@")[0]
    return (ROOT / "var" / f"{name}.log").read_text()


def enqueue_prequalify(lead):
    return lender_prequalify.delay(lead_id=lead.pk, lender_id=lead.lender_id)


def test_two_500s_then_an_approval_make_three_calls_and_offers(sandbox, celery_worker):
    sandbox.script("500, 500")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
    assert outcomes(lead) == ["technical_failure", "technical_failure", "approved"]
    calls = LenderCall.objects.filter(lead=lead).order_by("attempt")
    assert [call.attempt for call in calls] == [1, 2, 3]
    assert len({call.idempotency_key for call in calls}) == 1


def test_a_lender_that_stalls_every_time_gets_one_call_and_three_retries_then_the_lead_fails(sandbox, celery_worker):
    sandbox.script("stall, stall, stall, stall", stall_seconds=2.5)
    lead = lead_awaiting_decision(lender=sandbox.lender)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.DECISION_FAILED, timeout=20)
    assert outcomes(lead) == ["technical_failure"] * 4
    for call in LenderCall.objects.filter(lead=lead):
        assert "deadline" in call.error and 1900 <= call.duration_ms <= 3000
    assert not Decision.objects.filter(lead=lead).exists()


def test_a_rejection_is_one_call_and_the_lead_is_not_eligible(sandbox, celery_worker):
    lead = lead_awaiting_decision(lender=sandbox.lender, monthly_income=900_000)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.NOT_ELIGIBLE)
    assert outcomes(lead) == ["rejected"]


def test_running_the_task_again_after_the_decision_makes_no_call_and_no_second_decision(sandbox, celery_worker):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
    again = enqueue_prequalify(lead)
    wait_until(lambda: f"[{again.id}] succeeded" in worker_log(celery_worker))
    assert f"[{again.id}] succeeded" in worker_log(celery_worker) and "'skipped'" in worker_log(celery_worker)
    assert outcomes(lead) == ["approved"]
    assert Decision.objects.filter(lead=lead).count() == 1


def test_no_personal_data_appears_in_any_stored_exchange_or_log(sandbox, celery_worker, caplog):
    caplog.set_level("DEBUG")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
    lead = Lead.objects.get(pk=lead.pk)
    offer = Decision.objects.get(lead=lead).offers.first()
    lead_services.journey_offer_choose(lead=lead, offer_id=offer.pk)
    lead_services.journey_details_submit(lead=lead, email=EMAIL, phone=PHONE)  # enqueues lender_submit on commit
    wait_until(lambda: status_of(lead) == LeadStatus.SUBMITTED)
    calls = list(LenderCall.objects.filter(lead=lead))
    assert {call.capability for call in calls} == {"prequalify", "submit"}
    personal = [CONSUMER_IDENTITY["document_number"], CONSUMER_IDENTITY["full_name"], "Ana María", "Pérez",
                EMAIL, "ana.perez", PHONE, "3001234567"]
    for call in calls:
        stored = " ".join([call.request_body, call.response_body, call.request_url, call.error])
        for value in personal:
            assert value not in stored, f"{value!r} stored in {call.capability} call"
    submit_call = next(call for call in calls if call.capability == "submit")
    assert '"selectedOfferId"' in submit_call.request_body and '"email":"' in submit_call.request_body
    logs = worker_log(celery_worker) + caplog.text  # the worker's log, and this process's (the sandbox's)
    assert "lender call lead=" in logs
    for value in personal:
        assert value not in logs, f"{value!r} in the logs"


def test_the_sweep_re_enqueues_a_journey_whose_task_was_lost(sandbox, celery_worker, settings):
    lead = lead_awaiting_decision(lender=sandbox.lender)  # no task was ever enqueued for it
    stale = timezone.now() - timedelta(seconds=settings.LENDER_SWEEP_STALE_SECONDS + 1)
    Lead.objects.filter(pk=lead.pk).update(updated_at=stale)
    sweep_due_work.delay()
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
    assert outcomes(lead) == ["approved"]


def test_two_workers_racing_on_one_journey_send_identical_requests_and_store_one_decision(sandbox, broker_isolation):
    # Each worker takes one message (one thread, prefetch 1): the same task delivered twice runs
    # on both at once. The first attempt fails (500) and is retried while the duplicate runs.
    workers = [start_worker(broker_isolation, name=f"racer{n}-{uuid.uuid4().hex[:6]}", concurrency=1) for n in (1, 2)]
    try:
        sandbox.script("500", latency_ms=300)
        lead = lead_awaiting_decision(lender=sandbox.lender)
        first, second = enqueue_prequalify(lead), enqueue_prequalify(lead)
        wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
        wait_until(lambda: all(any(f"[{task.id}] succeeded" in worker_log(w) for w in workers) for task in (first, second)))
    finally:
        for worker in workers:
            stop_worker(worker)
    assert Decision.objects.filter(lead=lead).count() == 1
    calls = list(LenderCall.objects.filter(lead=lead).order_by("attempt"))
    assert [call.outcome for call in calls] == ["technical_failure", "approved"]
    assert len({call.request_body for call in calls}) == 1 and len({call.idempotency_key for call in calls}) == 1
    assert SandboxLenderSettings.objects.get(lender=sandbox.lender).calls_received == len(calls)


def test_a_pending_decision_is_resolved_by_the_poll_task(sandbox, celery_worker):
    sandbox.script("", pending_then_resolve=True, pending_seconds=0.5)
    lead = lead_awaiting_decision(lender=sandbox.lender)
    enqueue_prequalify(lead)
    wait_until(lambda: status_of(lead) == LeadStatus.DECISION_PENDING)
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)
    assert outcomes(lead) == ["pending"] and "approved" in outcomes(lead, "poll")
    assert Decision.objects.get(lead=lead).outcome == "approved"


def test_a_compare_fan_out_stores_each_decision_as_it_arrives(live_server, celery_worker):
    lenders = [sandbox_lender(server_url=live_server.url, max_retries=0) for _ in range(3)]
    SandboxLenderSettings.objects.create(lender=lenders[1], pending_then_resolve=True, pending_seconds=1.0)
    SandboxLenderSettings.objects.create(lender=lenders[2], failure_script="500")
    origin = OriginFactory()
    entries = []
    for lender in lenders:
        listing = ListingFactory(product__lender=lender)
        entries.append(CatalogEntry(listing=listing, campaign=publish(listing=listing, origin=origin)))
    lead = LeadFactory(origin=origin, compare_mode=True, lender=None, listing=None, product=None, **CONSUMER_IDENTITY)
    lead_services.journey_compare_request(lead=lead, entries=entries)
    wait_until(lambda: status_of(lead) == LeadStatus.OFFERED)  # the first approval, whatever the others say
    # The second lender's answer came pending (stored when it came, before or after the first
    # approval: the calls run side by side), then its poll resolved it.
    wait_until(lambda: Decision.objects.filter(lead=lead, lender=lenders[1], outcome="approved").exists())
    prequalified = LenderCall.objects.filter(lead=lead, lender=lenders[1], capability="prequalify")
    assert list(prequalified.values_list("outcome", flat=True)) == ["pending"]
    wait_until(lambda: DecisionRequest.objects.filter(lead=lead, lender=lenders[2], state="failed").exists())
    assert status_of(lead) == LeadStatus.OFFERED and Lead.objects.get(pk=lead.pk).lender_id is None
    assert Decision.objects.filter(lead=lead).count() == 2


@pytest.mark.parametrize("task", [lender_prequalify, lender_poll, lender_submit, sweep_due_work])
def test_lender_tasks_are_routed_to_the_lender_calls_queue(task):
    assert celery_app.amqp.router.route({}, task.name)["queue"].name == "lender_calls"
