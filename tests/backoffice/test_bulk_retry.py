"""Bulk retry: a preview of how many leads, a confirmation that starts it once, batches through the
single-lead retry (timeline, audit log, same tracking ID), refused without the permission."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.bulk_retry import (
    BulkRetryRefused, bulk_retry_batch_run, bulk_retry_confirm, bulk_retry_preview,
)
from apps.backoffice.models import BulkRetry
from apps.backoffice.tasks import bulk_retry_batch, evaluate_alerts
from apps.leads.models import Lead, LeadEvent, LeadStatus
from apps.lenders.models import LenderCall
from prosperas.celery import app as celery_app
from tests.factories import LeadFactory, lead_awaiting_decision
from tests.support import wait_until

pytestmark = pytest.mark.django_db
PREQUALIFY = "apps.lenders.tasks.lender_prequalify"


@pytest.fixture
def outage(with_role):
    """Three decisions lender A failed in the outage, one before it, one of another lender, one
    submission, one offered lead."""
    now = timezone.now()
    first = LeadFactory(status=LeadStatus.DECISION_FAILED)
    lender = first.lender
    in_outage = [first, *(LeadFactory(status=LeadStatus.DECISION_FAILED, lender=lender) for _ in range(2))]
    before = LeadFactory(status=LeadStatus.DECISION_FAILED, lender=lender)
    Lead.objects.filter(pk=before.pk).update(updated_at=now - timedelta(days=2))
    LeadFactory(status=LeadStatus.DECISION_FAILED)  # another lender
    submission = LeadFactory(status=LeadStatus.SUBMISSION_FAILED, lender=lender)
    LeadFactory(status=LeadStatus.OFFERED, lender=lender)
    return {"lender": lender, "in_outage": in_outage, "before": before, "submission": submission,
            "period": (now - timedelta(hours=1), now + timedelta(minutes=1)),
            "staff": with_role("sofia.support", "support")}


def preview(outage, stage="decision", staff=None):
    start, end = outage["period"]
    return bulk_retry_preview(lender=outage["lender"], stage=stage, failed_from=start, failed_to=end,
                              reason="lender outage 02:00-03:00", staff=staff or outage["staff"])


def test_the_preview_counts_the_lenders_leads_failed_at_that_stage_in_the_period(outage):
    seen = preview(outage)
    assert seen.bulk_retry.previewed_count == 3
    assert sorted(seen.sample) == sorted(lead.tracking_id for lead in outage["in_outage"])
    assert preview(outage, stage="submission").sample == [outage["submission"].tracking_id]
    assert seen.bulk_retry.state == BulkRetry.State.PREVIEWED  # nothing retried by a preview
    assert Lead.objects.filter(status=LeadStatus.DECISION_FAILED).count() == 5


def test_staff_without_the_retry_permission_can_neither_preview_nor_confirm(outage, with_role):
    analyst = with_role("ana.lyst", "analyst")
    with pytest.raises(BulkRetryRefused, match="may not retry"):
        preview(outage, staff=analyst)
    bulk = preview(outage).bulk_retry
    with pytest.raises(BulkRetryRefused, match="may not retry"):
        bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=analyst)
    assert BulkRetry.objects.get(pk=bulk.pk).state == BulkRetry.State.PREVIEWED


def test_confirming_retries_each_lead_once_in_batches_on_its_timeline_and_in_the_audit_log(
        outage, settings, django_capture_on_commit_callbacks, queued):
    settings.BULK_RETRY_BATCH_SIZE = 2
    bulk = preview(outage).bulk_retry
    with django_capture_on_commit_callbacks(execute=True):
        _, started = bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])
        _, started_again = bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])  # a double click
    assert (started, started_again) == (True, False)
    assert queued() == [("apps.backoffice.tasks.bulk_retry_batch", {"bulk_retry_id": bulk.pk})]

    with django_capture_on_commit_callbacks(execute=True):
        assert bulk_retry_batch_run(bulk_retry_id=bulk.pk) is True  # two of three
        assert bulk_retry_batch_run(bulk_retry_id=bulk.pk) is False  # the last one, then done
        assert bulk_retry_batch_run(bulk_retry_id=bulk.pk) is False  # a redelivered task: nothing

    bulk.refresh_from_db()
    assert (bulk.state, bulk.retried, bulk.skipped) == (BulkRetry.State.DONE, 3, 0)
    for lead in outage["in_outage"]:
        assert Lead.objects.get(pk=lead.pk).status == LeadStatus.AWAITING_DECISION
        staff_event = LeadEvent.objects.get(lead=lead, kind=LeadEvent.Kind.STAFF)
        assert "asked the lender for its decision again (same tracking ID)" in staff_event.message
        assert f"bulk retry {bulk.pk}: lender outage" in staff_event.message
        entry = LogEntry.objects.get_for_object(lead).get()
        assert entry.actor == outage["staff"] and entry.additional_data["action"] == "retry"
    prequalified = sorted(kwargs["lead_id"] for name, kwargs in queued() if name == PREQUALIFY)
    assert prequalified == sorted(lead.pk for lead in outage["in_outage"])  # once each
    assert Lead.objects.get(pk=outage["before"].pk).status == LeadStatus.DECISION_FAILED


def test_a_bulk_retry_of_submissions_sends_each_application_again(outage, queued, django_capture_on_commit_callbacks):
    bulk = preview(outage, stage="submission").bulk_retry
    bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])
    with django_capture_on_commit_callbacks(execute=True):
        bulk_retry_batch_run(bulk_retry_id=bulk.pk)
    lead = outage["submission"]
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.SUBMITTING
    assert queued() == [("apps.lenders.tasks.lender_submit", {"lead_id": lead.pk})]
    assert Lead.objects.filter(status=LeadStatus.DECISION_FAILED).count() == 5  # the decisions left alone


def test_a_lead_retried_by_someone_else_meanwhile_is_left_alone(outage, django_capture_on_commit_callbacks):
    bulk = preview(outage).bulk_retry
    bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])
    Lead.objects.filter(pk=outage["in_outage"][0].pk).update(status=LeadStatus.AWAITING_DECISION)
    with django_capture_on_commit_callbacks(execute=False):
        bulk_retry_batch_run(bulk_retry_id=bulk.pk)
    bulk.refresh_from_db()
    assert (bulk.retried, bulk.skipped, bulk.state) == (2, 0, BulkRetry.State.DONE)  # no longer matched


def test_a_second_bulk_retry_of_the_same_lender_and_stage_waits_for_the_running_one(outage):
    first, second = preview(outage).bulk_retry, preview(outage).bulk_retry
    bulk_retry_confirm(bulk_retry_id=first.pk, staff=outage["staff"])
    with pytest.raises(BulkRetryRefused, match="already running"):
        bulk_retry_confirm(bulk_retry_id=second.pk, staff=outage["staff"])
    assert BulkRetry.objects.get(pk=second.pk).state == BulkRetry.State.PREVIEWED


def test_a_run_stops_when_its_staff_user_loses_the_permission(outage):
    bulk = preview(outage).bulk_retry
    bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])
    outage["staff"].groups.clear()
    assert bulk_retry_batch_run(bulk_retry_id=bulk.pk) is False
    assert BulkRetry.objects.get(pk=bulk.pk).state == BulkRetry.State.STOPPED
    assert Lead.objects.filter(status=LeadStatus.DECISION_FAILED).count() == 5


def test_the_batch_task_enqueues_the_next_batch_while_leads_remain(outage, settings, queued,
                                                                   django_capture_on_commit_callbacks):
    settings.BULK_RETRY_BATCH_SIZE = 2
    bulk = preview(outage).bulk_retry
    bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])
    with django_capture_on_commit_callbacks(execute=True):
        bulk_retry_batch(bulk.pk)
    assert ("apps.backoffice.tasks.bulk_retry_batch", {"bulk_retry_id": bulk.pk}) in queued()


def test_the_admin_form_previews_then_confirms_once(client, outage, with_role):
    client.force_login(outage["staff"])
    start, end = outage["period"]
    form = {"lender": outage["lender"].pk, "stage": "decision", "reason": "outage",
            "failed_from": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M"),
            "failed_to": timezone.localtime(end + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")}
    page = client.post(reverse("admin:backoffice_bulkretry_add"), form)
    assert page.status_code == 200 and b"3 leads to retry" in page.content
    assert outage["in_outage"][0].tracking_id.encode() in page.content
    bulk = BulkRetry.objects.get()

    confirm = reverse("admin:backoffice_bulkretry_confirm", args=[bulk.pk])
    assert b"started" in client.post(confirm, follow=True).content
    assert b"already confirmed" in client.post(confirm, follow=True).content

    client.force_login(with_role("ana.lyst", "analyst"))
    assert client.get(reverse("admin:backoffice_bulkretry_add")).status_code == 403
    assert client.post(reverse("admin:backoffice_bulkretry_add"), form).status_code == 403


def test_the_periodic_task_picks_up_a_running_bulk_retry_whose_task_was_lost(outage, queued,
                                                                            django_capture_on_commit_callbacks):
    bulk = preview(outage).bulk_retry
    bulk_retry_confirm(bulk_retry_id=bulk.pk, staff=outage["staff"])  # its task never sent (no commit here)
    assert queued() == []
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts()
    assert queued() == [("apps.backoffice.tasks.bulk_retry_batch", {"bulk_retry_id": bulk.pk})]
    assert celery_app.conf.beat_schedule["evaluate-alerts"]["task"] == "apps.backoffice.tasks.evaluate_alerts"


@pytest.fixture
def small_batches(monkeypatch, settings):
    """Batches of two, here and in the worker process started after it (it reads the environment)."""
    monkeypatch.setenv("BULK_RETRY_BATCH_SIZE", "2")
    settings.BULK_RETRY_BATCH_SIZE = 2


@pytest.mark.worker
def test_a_bulk_retry_runs_on_the_worker_in_batches_and_the_sandbox_lender_answers_each_lead(
        small_batches, sandbox, celery_worker, with_role, client):
    leads = [lead_awaiting_decision(lender=sandbox.lender) for _ in range(3)]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(status=LeadStatus.DECISION_FAILED)
    staff = with_role("sofia.support", "support")
    now = timezone.now()
    bulk = bulk_retry_preview(lender=sandbox.lender, stage="decision", failed_from=now - timedelta(hours=1),
                              failed_to=now + timedelta(minutes=1), reason="lender back", staff=staff).bulk_retry
    client.force_login(staff)
    client.post(reverse("admin:backoffice_bulkretry_confirm", args=[bulk.pk]))
    client.post(reverse("admin:backoffice_bulkretry_confirm", args=[bulk.pk]))  # a double click

    wait_until(lambda: BulkRetry.objects.get(pk=bulk.pk).state == BulkRetry.State.DONE, timeout=30)
    wait_until(lambda: set(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("status", flat=True))
               == {LeadStatus.OFFERED}, timeout=30)
    assert BulkRetry.objects.get(pk=bulk.pk).retried == 3
    for lead in leads:  # one call each: asked once, with the journey's tracking ID
        assert LenderCall.objects.filter(lead=lead).count() == 1
