"""Leases on lender calls in flight (apps/lenders/leases.py): a call whose worker stopped renewing
its lease is taken for lost at once, a call whose lease is renewed is never sent twice, and the
sweep enqueues the work of lost calls without waiting for the journey to look stale."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.leads.engine.attempt import lender_prequalify_attempt
from apps.leads.engine.sweep import lender_work_sweep
from apps.leads.models import Decision
from apps.lenders.leases import LeaseKeeper, lender_calls_lost_close
from apps.lenders.models import LenderCall
from tests.factories import lead_awaiting_decision
from tests.support import wait_until


def call_in_flight(lead, *, started_seconds_ago: float, lease_seconds_left: float | None) -> LenderCall:
    now = timezone.now()
    lease = None if lease_seconds_left is None else now + timedelta(seconds=lease_seconds_left)
    return LenderCall.objects.create(lender=lead.lender, lead=lead, capability="prequalify", attempt=1,
                                     idempotency_key="k", started_at=now - timedelta(seconds=started_seconds_ago),
                                     lease_expires_at=lease)


def prequalify(lead):
    return lender_prequalify_attempt(lead_id=lead.pk, lender_id=lead.lender_id)


@pytest.fixture(autouse=True)
def lender_timeout(settings):
    """The lenders' own 15 s timeout (tests cap it at 2 s): the in-flight guard's deadline is
    long enough for a lease to decide, and a slow first answer from the live server is no failure."""
    settings.LENDER_TIMEOUT_CAP_SECONDS = None


def test_a_call_whose_lease_ran_out_is_taken_for_lost_at_once_well_within_its_deadline(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    call_in_flight(lead, started_seconds_ago=3, lease_seconds_left=-1)  # its worker died 3 s into a 15 s call

    assert prequalify(lead).action == "recorded"

    lost, answered = LenderCall.objects.filter(lead=lead).order_by("attempt")
    assert lost.outcome == "technical_failure" and "worker was lost" in lost.error
    assert (answered.attempt, answered.outcome) == (2, "approved")


def test_a_call_whose_lease_holds_is_not_sent_again(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    call_in_flight(lead, started_seconds_ago=20, lease_seconds_left=10)  # a slow lender, its worker alive

    outcome = prequalify(lead)

    assert (outcome.action, outcome.detail) == ("skipped", "another attempt is in flight")
    assert LenderCall.objects.filter(lead=lead).count() == 1


def test_a_call_opened_now_holds_a_lease_of_the_configured_length(sandbox, settings):
    settings.LENDER_CALL_LEASE_SECONDS = 15
    lead = lead_awaiting_decision(lender=sandbox.lender)
    sandbox.script("stall", stall_seconds=0.5)
    before = timezone.now()
    prequalify(lead)
    call = LenderCall.objects.get(lead=lead)
    assert before + timedelta(seconds=14) < call.lease_expires_at <= timezone.now() + timedelta(seconds=15)


@pytest.mark.django_db(transaction=True)
def test_the_keeper_renews_the_leases_of_the_calls_it_holds_and_no_others(settings):
    settings.LENDER_CALL_LEASE_SECONDS = 15
    settings.LENDER_CALL_LEASE_RENEW_SECONDS = 0.2
    from tests.factories import LenderFactory

    lead = lead_awaiting_decision(lender=LenderFactory())
    held = call_in_flight(lead, started_seconds_ago=1, lease_seconds_left=1)
    other = call_in_flight(lead, started_seconds_ago=1, lease_seconds_left=1)
    keeper = LeaseKeeper()
    release = threading.Event()

    def sending():  # as a worker thread blocked on the lender's socket
        with keeper.held(held.pk):
            release.wait(5)

    thread = threading.Thread(target=sending)
    thread.start()
    try:
        wait_until(lambda: LenderCall.objects.get(pk=held.pk).lease_expires_at
                   > timezone.now() + timedelta(seconds=10), timeout=5)
    finally:
        release.set()
        thread.join()
    assert LenderCall.objects.get(pk=other.pk).lease_expires_at < timezone.now() + timedelta(seconds=2)
    assert keeper.held_ids() == []
    time.sleep(0.3)  # nothing held: the keeper renews nothing
    assert keeper.renew() == 0


def test_lost_calls_are_closed_once_and_their_work_returned(sandbox):
    lead = lead_awaiting_decision(lender=sandbox.lender)
    lost = call_in_flight(lead, started_seconds_ago=20, lease_seconds_left=-2)
    other = lead_awaiting_decision(lender=sandbox.lender)
    live = call_in_flight(other, started_seconds_ago=20, lease_seconds_left=5)

    assert lender_calls_lost_close(limit=10) == [(lead.pk, sandbox.lender.pk, "prequalify")]
    assert lender_calls_lost_close(limit=10) == []
    lost.refresh_from_db()
    live.refresh_from_db()
    assert (lost.outcome, lost.error) == ("technical_failure", "No result recorded: the worker was lost during the call.")
    assert live.outcome == "in_flight"


def test_the_sweep_resumes_the_work_of_a_lost_call_without_waiting_for_the_journey_to_look_stale(
    sandbox, eager_tasks, settings,
):
    settings.LENDER_SWEEP_STALE_SECONDS = 120
    lead = lead_awaiting_decision(lender=sandbox.lender)
    call_in_flight(lead, started_seconds_ago=18, lease_seconds_left=-1)

    assert lender_work_sweep() == 1

    assert Decision.objects.get(lead=lead).outcome == Decision.Outcome.APPROVED
    assert list(LenderCall.objects.filter(lead=lead).order_by("attempt").values_list("outcome", flat=True)) == [
        "technical_failure", "approved"]
