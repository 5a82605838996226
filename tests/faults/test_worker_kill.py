"""A worker killed mid-call (issue 12, item 5): the journey resumes within 45 s at the platform's
default settings, and the lender gets the call again at most once, identical; a live worker's
slow call, however long, is never sent twice.

The worker runs with production's lender settings (the test settings' 2 s cap on a lender's
timeout and near-zero backoff are lifted): lenders get their whole 15-30 s, the sweep runs at its
default interval with its default leases.
"""

import os
import signal
import time

import pytest

from apps.leads.models import Decision, LeadStatus
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import ListingFactory, OriginFactory, publish, sandbox_lender
from tests.faults.conftest import Consumer
from tests.support import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PRODUCTION_LENDER_SETTINGS = {
    "LENDER_TIMEOUT_CAP_SECONDS": "0", "LENDER_RETRY_BACKOFF_SECONDS": "2", "LENDER_RETRY_BACKOFF_MAX_SECONDS": "60",
    "LENDER_POLL_INTERVAL_CAP_SECONDS": "0",
}
RESUME_WITHIN_SECONDS = 45


def one_lender_market(live_server, **lender_fields):
    origin = OriginFactory(compare_mode=True)
    lender = sandbox_lender(server_url=live_server.url, **lender_fields)
    publish(listing=ListingFactory(product__lender=lender), origin=origin)
    return origin, lender


def test_a_journey_whose_worker_was_killed_mid_call_resumes_within_45_seconds_at_default_settings(
    live_server, app_broker, supervised_worker, lender_requests,
):
    origin, lender = one_lender_market(live_server)
    # The first call stalls far beyond the moment the worker dies; the lender answers the next at once.
    SandboxLenderSettings.objects.create(lender=lender, failure_script="stall", stall_seconds=60)
    worker = supervised_worker(**PRODUCTION_LENDER_SETTINGS)
    consumer = Consumer(live_server.url)
    consumer.journey_start(origin.code)
    lead = consumer.lead
    wait_until(lambda: LenderCall.objects.filter(lead=lead, outcome=LenderCall.Outcome.IN_FLIGHT).exists(), timeout=20)
    time.sleep(0.5)  # the request has reached the lender, who stalls

    [celery_pid] = worker.pids("worker")
    os.kill(celery_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    decided = wait_until(lambda: Decision.objects.filter(lead=lead).first(), timeout=RESUME_WITHIN_SECONDS + 15,
                         interval=0.25)
    resumed_in = time.monotonic() - killed_at

    assert resumed_in <= RESUME_WITHIN_SECONDS, f"the journey resumed {resumed_in:.1f} s after its worker died"
    assert decided.outcome == Decision.Outcome.APPROVED
    lost, answered = LenderCall.objects.filter(lead=lead).order_by("attempt")
    assert (lost.outcome, answered.outcome) == (LenderCall.Outcome.TECHNICAL_FAILURE, LenderCall.Outcome.APPROVED)
    assert "worker was lost" in lost.error
    # The lender got the application twice: the call the dead worker made, and the one resent,
    # identical (same tracking ID and idempotency key).
    bodies = lender_requests.of(lender.code, lead.tracking_id)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert consumer.lead.status == LeadStatus.OFFERED
    consumer.look()
    assert consumer.server_errors() == []
    assert len(worker.pids("worker")) == 2  # the supervisor started a new worker; nobody else did
    print(f"journey resumed and decided {resumed_in:.1f} s after its worker was killed")


def test_a_live_workers_slow_call_is_never_sent_twice_and_beat_killed_alone_comes_back(
    live_server, app_broker, supervised_worker, lender_requests,
):
    """The lender takes 12 s, four times the lease: the worker keeps renewing it, so the sweep
    (every second here) never takes the call for lost and nothing is sent twice. Meanwhile beat,
    a program of its own in `make run`, is killed alone: it is started again and the sweep goes on
    (an embedded beat would have died unnoticed, its worker alive)."""
    origin, lender = one_lender_market(live_server, timeout_seconds=30)
    SandboxLenderSettings.objects.create(lender=lender, failure_script="stall", stall_seconds=12)
    supervised = supervised_worker(**PRODUCTION_LENDER_SETTINGS, LENDER_CALL_LEASE_SECONDS="3",
                                   LENDER_CALL_LEASE_RENEW_SECONDS="1", LENDER_SWEEP_INTERVAL_SECONDS="1",
                                   LENDER_SWEEP_STALE_SECONDS="2")
    consumer = Consumer(live_server.url)
    consumer.journey_start(origin.code)
    lead = consumer.lead
    wait_until(lambda: LenderCall.objects.filter(lead=lead).exists(), timeout=20)
    [beat] = supervised.pids("beat")
    os.kill(beat, signal.SIGKILL)
    wait_until(lambda: len(supervised.pids("beat")) == 2, timeout=10)
    sweeps_sent = supervised.text().count("Sending due task sweep-lender-work")

    decided = wait_until(lambda: Decision.objects.filter(lead=lead).first(), timeout=40, interval=0.25)

    assert decided.outcome == Decision.Outcome.APPROVED
    [call] = LenderCall.objects.filter(lead=lead)
    assert call.outcome == LenderCall.Outcome.APPROVED and call.duration_ms >= 12_000
    assert len(lender_requests.of(lender.code, lead.tracking_id)) == 1
    consumer.look()
    assert consumer.server_errors() == []
    # The new beat sends the sweep again; the worker, never touched, runs it.
    wait_until(lambda: supervised.text().count("Sending due task sweep-lender-work") > sweeps_sent, timeout=30)
    assert len(supervised.pids("worker")) == 1
