"""The conformance kit against the sandbox lenders: every style certifies when well behaved, and
each knob that breaks one thing fails exactly the check that covers it."""

import pytest

from apps.conformance.models import Certificate, ConformanceRun
from apps.conformance.runner import conformance_run_execute
from apps.conformance.services import conformance_run_start


def run_kit(lender) -> ConformanceRun:
    return conformance_run_execute(conformance_run_start(lender=lender, enqueue=False))


def failed_checks(run: ConformanceRun) -> set[str]:
    return {check["name"] for check in run.checks if check["status"] == "failed"}


def test_a_well_behaved_embedded_lender_certifies(kit_lender):  # also by the command: test_entry_points
    run = run_kit(kit_lender("embedded"))
    assert run.status == "passed", [(c["name"], c["summary"]) for c in run.checks if c["status"] != "passed"]
    assert Certificate.objects.filter(run=run, lender=run.lender).exists()



@pytest.mark.parametrize("style", ["async_lead", "offers_api", "mapped_json"])
def test_every_other_sandbox_style_certifies(kit_lender, style):
    run = run_kit(kit_lender(style))
    assert run.status == "passed", [(c["name"], c["summary"]) for c in run.checks if c["status"] != "passed"]
    assert run.failed == 0 and Certificate.objects.filter(run=run).exists()


BROKEN = [
    ({"repeat_answers_differ": True}, "idempotency"),
    ({"rejection_as_error": True}, "rejection_vs_error"),
    ({"latency_ms": 400}, "latency"),
    ({"handoff_refused": True}, "handoff"),
    ({"postback_click_id_changed": True}, "postback_click_id"),
    ({"postback_bad_signature": True}, "postback_signatures"),
    ({"postback_nonce_reused": True}, "postback_replay"),
    ({"postback_bad_transition": True}, "postback_transitions"),
]


@pytest.mark.parametrize(("knobs", "check"), BROKEN, ids=[check for _, check in BROKEN])
def test_each_broken_knob_fails_exactly_its_check(kit_lender, settings, knobs, check):
    settings.CONFORMANCE_LATENCY_TARGET_MS = 300  # below the latency knob's 400 ms, far above a sandbox's answer
    run = run_kit(kit_lender("embedded", **knobs))
    assert failed_checks(run) == {check}, [(c["name"], c["status"], c["summary"]) for c in run.checks]
    assert run.status == "failed" and run.failed == 1
    assert not Certificate.objects.filter(run=run).exists()
