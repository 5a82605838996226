"""The circuit breaker per lender: tripped by technical failures and timeouts over recent calls,
closed again by probes when the lender recovers, forced either way by staff."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from apps.leads.engine.attempt import lender_prequalify_attempt
from apps.leads.models import Lead, LeadStatus
from apps.lenders.circuit import lender_circuits_probe
from apps.lenders.models import CircuitState, Lender, LenderCall
from apps.sandbox.models import SandboxApplication
from tests.factories import LenderFactory, lead_awaiting_decision
from tests.lenders.conftest import STYLES


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


# --- The probe proves the decision capability, over real HTTP on loopback ----------------------


class HalfBrokenLender(BaseHTTPRequestHandler):
    """A lender of the embedded style whose every GET is a 404 (no health page at its base URL) and
    whose decision call answers as `mode` says: "down" 500, "recovered" a decision echoing the
    trackingId, "garbage" a 200 that is not JSON, "not_found" a 404."""

    protocol_version = "HTTP/1.1"
    mode = "down"
    requests: list = []

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        type(self).requests.append(("GET", self.path))
        self.answer(404, b'{"error": "not found"}')

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        type(self).requests.append(("POST", self.path))
        if self.mode == "recovered" and self.path.endswith("/decisions"):
            return self.answer(200, json.dumps({"trackingId": body.get("trackingId"), "decision": "rejected",
                                                "reason": "consumer_not_eligible", "offers": []}).encode())
        if self.mode == "garbage":
            return self.answer(200, b"<html>Service Unavailable</html>")
        if self.mode == "not_found":
            return self.answer(404, b'{"error": "not found"}')
        self.answer(500, b'{"error": "internal"}')

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def half_broken_lender(db, rules):
    server = ThreadingHTTPServer(("127.0.0.1", 0), HalfBrokenLender)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    HalfBrokenLender.mode, HalfBrokenLender.requests = "down", []
    lender = LenderFactory(base_url=f"http://127.0.0.1:{server.server_address[1]}/api")
    yield lender
    server.shutdown()
    server.server_close()


def test_a_404_on_get_while_decisions_answer_500_keeps_the_circuit_open(half_broken_lender):
    open_since(half_broken_lender, 60)
    assert lender_circuits_probe() == 1
    lender = Lender.objects.get(pk=half_broken_lender.pk)
    assert lender.circuit_state == CircuitState.OPEN and "500" in lender.circuit_note
    assert ("POST", "/api/decisions") in HalfBrokenLender.requests  # the capability itself was asked


@pytest.mark.parametrize("mode", ["garbage", "not_found"])
def test_an_answer_that_is_not_a_decision_keeps_the_circuit_open(half_broken_lender, mode):
    HalfBrokenLender.mode = mode
    open_since(half_broken_lender, 60)
    lender_circuits_probe()
    assert circuit(half_broken_lender) == CircuitState.OPEN


def test_a_lender_whose_decisions_recover_is_closed_by_the_next_probe(half_broken_lender):
    open_since(half_broken_lender, 60)
    lender_circuits_probe()
    assert circuit(half_broken_lender) == CircuitState.OPEN
    HalfBrokenLender.mode = "recovered"
    open_since(half_broken_lender, 60)  # the cool-down has passed again
    assert lender_circuits_probe() == 1
    lender = Lender.objects.get(pk=half_broken_lender.pk)
    assert lender.circuit_state == CircuitState.CLOSED and "decision (rejected)" in lender.circuit_note


def test_a_refused_call_while_half_open_does_not_close_the_circuit(sandbox, rules):
    Lender.objects.filter(pk=sandbox.lender.pk).update(circuit_state=CircuitState.HALF_OPEN)
    sandbox.lender.refresh_from_db()
    sandbox.script("422")
    assert prequalify(lead_awaiting_decision(lender=sandbox.lender)).action == "failed"
    assert circuit(sandbox.lender) == CircuitState.HALF_OPEN  # a 4xx proves nothing; the probe decides


@pytest.mark.parametrize("style", STYLES)
def test_every_styles_sandbox_answers_the_probe_and_keeps_nothing(sandbox_of, rules, style):
    sandbox = sandbox_of(style)
    open_since(sandbox.lender, 60)
    assert lender_circuits_probe() == 1
    lender = Lender.objects.get(pk=sandbox.lender.pk)
    assert lender.circuit_state == CircuitState.CLOSED, lender.circuit_note
    assert not SandboxApplication.objects.filter(lender=lender).exists()


@pytest.mark.parametrize("style", STYLES)
def test_every_styles_sandbox_fails_the_probe_while_its_decisions_fail(sandbox_of, rules, style):
    sandbox = sandbox_of(style)
    sandbox.script("500")
    open_since(sandbox.lender, 60)
    lender_circuits_probe()
    lender = Lender.objects.get(pk=sandbox.lender.pk)
    assert lender.circuit_state == CircuitState.OPEN and "probe failed" in lender.circuit_note
