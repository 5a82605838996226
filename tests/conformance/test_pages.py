"""Conformance pages in admin, the lost-run rule, and the sandbox's postback trigger's refusals."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.conformance.models import ConformanceProfile, ConformanceRun
from apps.conformance.services import conformance_run_start
from tests.factories import LenderFactory, sandbox_lender

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["conformancerun", "certificate", "conformanceprofile", "activationoverride"])
def test_the_conformance_lists_render(admin_client, model):
    assert admin_client.get(reverse(f"admin:conformance_{model}_changelist")).status_code == 200


def test_the_lender_page_links_to_its_conformance_run_and_a_post_queues_one_run(admin_client):
    lender = LenderFactory(environment="staging")
    start = reverse("admin:conformance_conformancerun_start", args=[lender.pk])
    assert start in admin_client.get(reverse("admin:lenders_lender_change", args=[lender.pk])).content.decode()
    assert admin_client.get(start).status_code == 200

    first = admin_client.post(start)
    second = admin_client.post(start)  # a double click

    run = ConformanceRun.objects.get(lender=lender)
    assert first["Location"] == second["Location"] == reverse("admin:conformance_conformancerun_report", args=[run.pk])
    page = admin_client.get(first["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page and "Queued" in page


def test_a_run_whose_task_was_lost_is_closed_and_a_new_one_starts(admin_user):
    lender = LenderFactory(environment="staging")
    lost = conformance_run_start(lender=lender, enqueue=False)
    ConformanceRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))

    fresh = conformance_run_start(lender=lender, enqueue=False)

    lost.refresh_from_db()
    assert fresh.pk != lost.pk and lost.status == "error" and "lost" in lost.error


def test_a_profile_is_made_with_the_sandbox_conventions():
    profile = ConformanceProfile.objects.create(lender=LenderFactory())
    assert (profile.approved_income, profile.rejected_income, profile.pending_income) == (5_000_000, 900_000, 2_500_777)


@pytest.mark.parametrize("body", ['{"click_ids": []}', '{"click_ids": [1]}', "not json", '{"click_ids": ["' + "x" * 256 + '"]}'])
def test_the_sandbox_postback_trigger_refuses_a_bad_request(client, body):
    lender = sandbox_lender(server_url="http://testserver")
    answer = client.post(f"/sandbox/postbacks/{lender.code}/send", body, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "click_ids"
