"""The circuit breaker per lender: tripped by technical failures and timeouts over recent calls,
closed again by probes when the lender recovers, forced either way by staff."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.leads.engine.attempt import lender_prequalify_attempt
from apps.leads.models import Lead, LeadStatus
from apps.lenders.circuit import lender_circuits_probe
from apps.lenders.models import CircuitState, Lender, LenderCall
from tests.factories import lead_awaiting_decision


@pytest.fixture
def rules(settings):
    settings.LENDER_CIRCUIT_MIN_CALLS = 4
    settings.LENDER_CIRCUIT_FAILURE_RATIO = 0.5
    settings.LENDER_CIRCUIT_COOLDOWN_SECONDS = 30
    return settings


def circuit(lender):
    return Lender.objects.get(pk=lender.pk).circuit_state


def prequalify(lead):
    return lender_prequalify_attempt(lead_id=lead.pk, lender_id=lead.lender_id)


def test_failures_over_the_threshold_trip_the_lender_and_no_consumer_waits_on_it(sandbox, rules):
    sandbox.script("500, ok, 500, 500")
    for _ in range(4):
        prequalify(lead_awaiting_decision(lender=sandbox.lender))
    assert circuit(sandbox.lender) == CircuitState.OPEN  # 3 of the last 4 calls failed
    assert "3 of the last 4" in Lender.objects.get(pk=sandbox.lender.pk).circuit_note
    waiting = lead_awaiting_decision(lender=sandbox.lender)
    outcome = prequalify(waiting)
    assert outcome.action == "failed" and not LenderCall.objects.filter(lead=waiting).exists()  # no call made
    assert Lead.objects.get(pk=waiting.pk).status == LeadStatus.DECISION_FAILED  # "try again", at once


def test_too_few_calls_do_not_trip_it(sandbox, rules):
    sandbox.script("500, 500, 500")
    prequalify(lead_awaiting_decision(lender=sandbox.lender))
    prequalify(lead_awaiting_decision(lender=sandbox.lender))
    assert circuit(sandbox.lender) == CircuitState.CLOSED


def open_since(lender, seconds):
    Lender.objects.filter(pk=lender.pk).update(circuit_state=CircuitState.OPEN,
                                               circuit_changed_at=timezone.now() - timedelta(seconds=seconds))


def test_a_probe_closes_the_circuit_when_the_lender_answers_again(sandbox, rules):
    open_since(sandbox.lender, 60)
    assert lender_circuits_probe() == 1
    assert circuit(sandbox.lender) == CircuitState.CLOSED


def test_a_failed_probe_keeps_it_open_for_another_cool_down(sandbox, rules):
    sandbox.script("503")
    open_since(sandbox.lender, 60)
    lender_circuits_probe()
    lender = Lender.objects.get(pk=sandbox.lender.pk)
    assert lender.circuit_state == CircuitState.OPEN and "probe failed" in lender.circuit_note
    assert lender_circuits_probe() == 0  # cooling down again


def test_no_probe_before_the_cool_down(sandbox, rules):
    open_since(sandbox.lender, 5)
    assert lender_circuits_probe() == 0 and circuit(sandbox.lender) == CircuitState.OPEN


def test_a_half_open_circuit_closes_on_a_real_call_that_succeeds(sandbox, rules):
    Lender.objects.filter(pk=sandbox.lender.pk).update(circuit_state=CircuitState.HALF_OPEN)
    sandbox.lender.refresh_from_db()
    assert prequalify(lead_awaiting_decision(lender=sandbox.lender)).detail == "approved"
    assert circuit(sandbox.lender) == CircuitState.CLOSED


def test_staff_force_it_open_and_probes_leave_it_until_staff_close_it(admin_client, sandbox, rules):
    url = "/admin/lenders/lender/"
    admin_client.post(url, {"action": "force_circuit_open", "_selected_action": [sandbox.lender.pk]})
    lender = Lender.objects.get(pk=sandbox.lender.pk)
    assert lender.circuit_state == CircuitState.OPEN and lender.circuit_held_open
    open_since(sandbox.lender, 3600)
    assert lender_circuits_probe() == 0
    admin_client.post(url, {"action": "force_circuit_closed", "_selected_action": [sandbox.lender.pk]})
    lender = Lender.objects.get(pk=sandbox.lender.pk)
    assert lender.circuit_state == CircuitState.CLOSED and not lender.circuit_held_open
    assert b"closed" in admin_client.get(url).content
