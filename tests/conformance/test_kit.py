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


def test_a_well_behaved_embedded_lender_certifies(kit_lender):
    run = run_kit(kit_lender("embedded"))
    assert run.status == "passed", [(c["name"], c["status"], c["summary"]) for c in run.checks]
    assert Certificate.objects.filter(run=run, lender=run.lender).exists()

