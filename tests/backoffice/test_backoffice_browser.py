"""The back office in headless Chromium, on real parts: a support user signs in with their TOTP
code, finds a failed lead by its tracking ID, retries it (a real worker calls the sandbox lender
over HTTP), sees it succeed and the audit entry; the bulk retry's preview and the alerts list."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from apps.backoffice.alerts import alerts_evaluate
from apps.leads.enqueue import LENDER_PREQUALIFY, task_send
from apps.leads.models import Lead, LeadStatus
from apps.lenders.models import CircuitState, LenderCall
from tests.factories import CampaignFactory, LeadFactory, LenderFactory, lead_awaiting_decision
from tests.support import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "pw-for-tests-only"


@pytest.fixture
def support_with_totp(django_user_model, settings):
    settings.STAFF_OTP_REQUIRED = True
    user = django_user_model.objects.create_user("sofia.support", "sofia@prosperas.test", PASSWORD, is_staff=True)
    # Support acts on leads; compliance reads the audit log.
    user.groups.add(Group.objects.get(name="support"), Group.objects.get(name="compliance"))
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def sign_in(page: Page, live_server, username: str, token: str = "") -> None:
    page.goto(live_server.url + reverse("admin:index"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if token:
        page.fill("input[name=otp_token]", token)
    page.click("input[type=submit]")
    expect(page.locator("#content")).to_contain_text("Marketplace administration")


def test_support_signs_in_with_totp_finds_a_failed_lead_retries_it_and_sees_the_audit_entry(
        page: Page, live_server, sandbox, celery_worker, support_with_totp, screenshot):
    # The lender refuses the first call (a permanent failure): the decision fails, for real.
    sandbox.script("401")
    lead = lead_awaiting_decision(lender=sandbox.lender)
    task_send(LENDER_PREQUALIFY, lead_id=lead.pk, lender_id=sandbox.lender.pk)
    wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.DECISION_FAILED, timeout=30)

    user, device = support_with_totp
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    sign_in(page, live_server, user.username, f"{totp.token():0{device.digits}d}")

    page.goto(live_server.url + reverse("admin:leads_lead_changelist"))
    page.fill("#searchbar", lead.tracking_id)
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list").get_by_role("link", name=lead.tracking_id).click()
    expect(page.locator("fieldset").first).to_contain_text("Decision failed (technical)")

    page.select_option("#staff-action", "retry")
    page.fill("#staff-text", "lender fixed its credentials")
    page.get_by_role("button", name="Do it").click()
    expect(page.locator(".messagelist")).to_contain_text("Done: asked the lender for its decision again")

    wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.OFFERED, timeout=30)
    # The lender was asked again with the journey's own tracking ID and idempotency key.
    attempts = LenderCall.objects.filter(lead=lead).order_by("attempt")
    assert [call.outcome for call in attempts] == ["permanent_failure", "approved"]
    assert len({call.idempotency_key for call in attempts}) == 1
    page.reload()
    expect(page.locator("fieldset").first).to_contain_text("Offers shown")
    expect(page.locator("body")).to_contain_text("sofia.support: asked the lender for its decision again")
    screenshot("-1-lead")

    page.goto(live_server.url + reverse("admin:auditlog_logentry_changelist")
              + f"?q={lead.tracking_id}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("sofia.support")
    expect(rows.first).to_contain_text(lead.tracking_id)
    screenshot("-2-audit")


@pytest.fixture
def troubled_marketplace():
    failed = LeadFactory(status=LeadStatus.DECISION_FAILED)
    for _ in range(4):
        LeadFactory(status=LeadStatus.DECISION_FAILED, lender=failed.lender)
    LenderFactory(name="Banco Caído", circuit_state=CircuitState.OPEN, circuit_note="5 technical failures in a row")
    CampaignFactory(name="Navidad", budget=1000, spent=900, budget_alert_percent=80)
    LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=timezone.now() - timedelta(days=5))
    alerts_evaluate()
    return failed.lender


def test_the_bulk_retry_preview_and_the_alerts_list(page: Page, live_server, transactional_db, django_user_model,
                                                    troubled_marketplace, screenshot):
    user = django_user_model.objects.create_user("ivan.ops", "ivan@prosperas.test", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="support"), Group.objects.get(name="integrations"))
    sign_in(page, live_server, user.username)

    page.goto(live_server.url + reverse("admin:backoffice_bulkretry_add"))
    page.select_option("#id_lender", str(troubled_marketplace.pk))
    page.select_option("#id_stage", "decision")
    now = timezone.localtime()
    page.fill("#id_failed_from", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_failed_to", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_reason", "lender outage this morning")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#bulk-retry-preview h2")).to_have_text("5 leads to retry")
    expect(page.locator("#bulk-retry-sample tbody tr")).to_have_count(5)
    expect(page.get_by_role("button", name="Retry 5 leads")).to_be_visible()
    screenshot("-1-bulk-retry-preview")

    page.goto(live_server.url + reverse("admin:backoffice_alert_changelist"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#result_list")).to_contain_text("Banco Caído's circuit is open")
    expect(page.locator("#result_list")).to_contain_text("Campaign Navidad has spent")
    expect(page.locator("#result_list")).to_contain_text("with no postback after 3 day(s)")
    screenshot("-2-alerts")
