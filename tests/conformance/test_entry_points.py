"""The kit's entry points: the management command (a readable report ending in one JSON line),
and admin, where staff start a run on a lender, a real Celery worker runs it, and the report
page follows its progress to the result (looked at in Chromium)."""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.conformance.models import Certificate, ConformanceRun
from tests.conftest import start_worker, stop_worker


def test_the_command_prints_the_report_and_ends_with_one_json_line(kit_lender):
    lender = kit_lender("embedded")
    out = StringIO()

    call_command("lender_conformance", lender.code, "--environment", "staging", stdout=out)

    lines = out.getvalue().strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["passed"] == 11 and summary["failed"] == 0 and summary["status"] == "passed"
    assert Certificate.objects.filter(pk=summary["certificate"], lender=lender).exists()
    assert any("Idempotency" in line for line in lines) and any("[        PASSED]" in line for line in lines)


@pytest.mark.browser
def test_staff_start_a_run_in_admin_and_the_worker_runs_it_to_a_certificate(
    kit_lender, live_server, broker_isolation, page, admin_user, client, screenshot
):
    lender = kit_lender("embedded")
    worker = start_worker({**broker_isolation, "SITE_URL": live_server.url}, name="conformance-worker")
    try:
        client.force_login(admin_user)
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                                   "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
        page.goto(f"{live_server.url}/admin/lenders/lender/{lender.pk}/change/")
        page.get_by_role("link", name="Conformance run", exact=True).click()
        page.locator("#conformance-start").click()

        finished = "#run-status.conformance--passed, #run-status.conformance--failed, #run-status.conformance--error"
        page.wait_for_selector(finished, timeout=120_000)
    finally:
        stop_worker(worker)
    run = ConformanceRun.objects.get(lender=lender)
    assert run.status == "passed", [(check["name"], check["status"], check["summary"]) for check in run.checks
                                    if check["status"] != "passed"]
    assert run.requested_by == admin_user
    assert page.locator("#certificate").is_visible()
    assert page.locator("#check-postback_replay .conformance--passed").is_visible()
    page.locator("details.conformance-evidence").first.evaluate("element => element.open = true")
    assert "APP-" in page.content()  # the stored exchanges, as masked as in the lender's call log
    screenshot()
