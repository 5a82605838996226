"""The portal's conformance pages: a member runs the kit against their own staging row only, and
reads each run's report with its certificate, as staff do in admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.conformance.models import Certificate, ConformanceRun
from apps.conformance.report import Check, note

pytestmark = pytest.mark.django_db


def _finished_run(lender, *, passed: bool) -> ConformanceRun:
    checks = [
        Check("idempotency", "passed", "The same tracking ID twice got the same answer.",
              [note("second answer", tracking_id="ACME-1")]).as_json(),
        Check("latency", "passed" if passed else "failed", "p95 1,200 ms against 5,000 ms.").as_json(),
    ]
    now = timezone.now()
    run = ConformanceRun.objects.create(
        lender=lender, environment=lender.environment, checks=checks, started_at=now, finished_at=now,
        status=ConformanceRun.Status.PASSED if passed else ConformanceRun.Status.FAILED,
        passed=2 if passed else 1, failed=0 if passed else 1,
    )
    if passed:
        Certificate.objects.create(run=run, lender=lender, environment=lender.environment,
                                   expires_at=now + timedelta(days=90))
    return run


def test_a_member_starts_a_run_on_their_staging_row_and_follows_it(partner_client, environments):
    staging, _ = environments
    response = partner_client.post(f"/partners/conformance/{staging.pk}/start/")
    run = ConformanceRun.objects.get(lender=staging)
    assert response.status_code == 302 and response["Location"] == f"/partners/conformance/runs/{run.pk}/"
    assert run.requested_by.email == "dev@acme.example" and run.status == ConformanceRun.Status.QUEUED
    page = partner_client.get(response["Location"]).content.decode()
    assert "In progress" in page and 'http-equiv="refresh"' in page
    # A second click while it is queued is the same run, not another.
    assert partner_client.post(f"/partners/conformance/{staging.pk}/start/")["Location"] == response["Location"]
    assert ConformanceRun.objects.filter(lender=staging).count() == 1


def test_runs_start_only_on_the_members_own_staging_rows(partner_client, environments, other_lender):
    _, production = environments
    assert partner_client.post(f"/partners/conformance/{production.pk}/start/").status_code == 404
    assert partner_client.post(f"/partners/conformance/{other_lender.pk}/start/").status_code == 404
    assert partner_client.get(f"/partners/conformance/{environments[0].pk}/start/").status_code == 405
    assert not ConformanceRun.objects.exists()


def test_another_lenders_run_is_not_found(partner_client, other_lender):
    run = _finished_run(other_lender, passed=True)
    assert partner_client.get(f"/partners/conformance/runs/{run.pk}/").status_code == 404
    assert "Rival" not in partner_client.get("/partners/conformance/").content.decode()


def test_the_report_shows_each_check_its_evidence_and_the_certificate(partner_client, environments):
    staging, _ = environments
    run = _finished_run(staging, passed=True)
    page = partner_client.get(f"/partners/conformance/runs/{run.pk}/").content.decode()
    assert 'id="check-idempotency"' in page and 'id="check-latency"' in page
    assert "tracking_id: ACME-1" in page
    assert "Certificate issued" in page and 'http-equiv="refresh"' not in page
    listing = partner_client.get("/partners/conformance/").content.decode()
    assert "Certified" in listing and f"Run {run.pk}" in listing


def test_a_failed_run_issues_no_certificate(partner_client, environments):
    staging, _ = environments
    run = _finished_run(staging, passed=False)
    page = partner_client.get(f"/partners/conformance/runs/{run.pk}/").content.decode()
    assert "No certificate: every applicable check must pass." in page
    assert "Not certified" in partner_client.get("/partners/conformance/").content.decode()


def test_the_pages_need_a_signed_in_member(client, environments):
    response = client.get("/partners/conformance/")
    assert response.status_code == 302 and response["Location"].startswith("/partners/login/")


def test_the_checklist_ends_with_the_certificate_that_production_needs(partner_client, environments):
    staging, production = environments
    production.staging_counterpart, production.is_active = staging, False
    production.save(update_fields=["staging_counterpart", "is_active"])
    html = partner_client.get("/partners/").content.decode()
    assert html.count('class="done"') == 2  # the credentials of both environments
    assert "Not certified yet: run the kit on your staging environment." in html
    assert 'href="/partners/conformance/">Run the conformance kit' in html

    run = _finished_run(staging, passed=True)

    html = partner_client.get("/partners/").content.decode()
    assert html.count('class="done"') == 4  # and the certificate, on staging and through it on production
    assert f"(run {run.pk}). Our staff can now turn production live." in html


def test_a_production_row_without_a_staging_row_says_so_in_the_checklist(partner_client, environments):
    _finished_run(environments[0], passed=True)  # certified, but not linked to the production row
    html = partner_client.get("/partners/").content.decode()
    assert html.count('class="done"') == 3
    assert "No staging environment is linked to this one yet" in html


def test_the_conformance_pages_give_times_in_utc_as_the_rest_of_the_portal(partner_client, environments):
    staging, _ = environments
    run = _finished_run(staging, passed=True)
    at = datetime(2026, 3, 1, 3, 30, tzinfo=UTC)  # still 28 February in the site's time zone (Bogotá)
    ConformanceRun.objects.filter(pk=run.pk).update(created_at=at, started_at=at, finished_at=at)
    Certificate.objects.filter(run=run).update(issued_at=at, expires_at=at.replace(year=2036))
    page = partner_client.get(f"/partners/conformance/runs/{run.pk}/").content.decode()
    assert "Started 2026-03-01 03:30:00 UTC, finished 2026-03-01 03:30:00 UTC." in page
    assert "2026-03-01 03:30 UTC, valid until 2036-03-01 03:30 UTC." in page
    listing = partner_client.get("/partners/conformance/").content.decode()
    assert "until 2036-03-01 03:30 UTC" in listing and "<td>2026-03-01 03:30</td>" in listing
