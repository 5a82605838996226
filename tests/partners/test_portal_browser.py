"""The lender portal in headless Chromium, at a phone's width (360 px) and on a desktop: an invited
person sets a password, enrols TOTP, takes a staging secret, sends a test postback from the
console through the real endpoint (over HTTP, to the live server) and finds it in the debugger.
Each page is saved under test-artifacts/ to be looked at."""

import base64

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from playwright.sync_api import Page, expect

from apps.leads.models import Lead
from apps.lenders.models import Lender, LenderCall
from apps.partners.services import invitation_create
from apps.postbacks.models import PostbackEvent
from tests.factories import LeadFactory, LenderFactory, ProductFactory
from tests.partners.conftest import PASSWORD

pytestmark = [pytest.mark.browser]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def nav(page: Page, name: str):
    return page.get_by_role("navigation", name="Portal").get_by_role("link", name=name, exact=True)


def no_overflow(page: Page) -> None:
    assert page.evaluate(OVERFLOW) <= 0, f"{page.url} is wider than the screen"


def test_an_invited_lender_sends_a_test_postback_from_the_console_and_sees_it(
        page: Page, live_server, transactional_db, screenshot):
    staging = LenderFactory(code="acme-staging", name="Acme Credit", environment=Lender.Environment.STAGING)
    production = LenderFactory(code="acme", name="Acme Credit", environment=Lender.Environment.PRODUCTION)
    product = ProductFactory(lender=staging, lender_reference="acme-1")
    lead = LeadFactory(listing__product=product)
    LenderCall.objects.create(lender=staging, lead=lead, capability="prequalify", attempt=1, idempotency_key="k",
                              started_at=timezone.now(), outcome="approved", http_status=200, duration_ms=640,
                              request_body='{"documentNumber":"••••••••50","trackingId":"%s"}' % lead.tracking_id)
    link = []
    invitation_create(email="dev@acme.example", lenders=[staging, production], invited_by=None,
                      accept_url_for=lambda token: link.append(live_server.url + reverse("partners:invitation",
                                                                                          args=[token])) or link[0])
    page.set_viewport_size(PHONE)

    page.goto(link[0])
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and continue").click()
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    no_overflow(page)
    screenshot("-1-enrol")
    key = base64.b32decode(page.locator("code.key").inner_text())
    page.get_by_label("Authenticator code").fill(f"{totp(key):06d}")
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Onboarding")).to_be_visible()
    no_overflow(page)
    screenshot("-2-onboarding")

    nav(page, "Credentials").click()
    page.locator("form", has=page.get_by_role("button", name="Rotate: issue a new secret")).first.get_by_role(
        "button").click()
    expect(page.locator(".card--secret")).to_contain_text("shown only this once")
    staging.refresh_from_db()
    expect(page.locator(".card--secret code.secret")).to_have_text(staging.postback_secret)
    no_overflow(page)
    screenshot("-3-credentials")

    nav(page, "Postback debugger").click()
    console = page.get_by_role("region", name="Console: send a test postback to staging")
    console.get_by_label("click_id", exact=True).fill(lead.tracking_id)
    console.get_by_label("Status").select_option("pre_approved")
    console.get_by_role("button", name="Sign and send").click()
    expect(page.locator(".result")).to_contain_text("HTTP 202")
    expect(page.locator("table.log")).to_contain_text("202 accepted")
    event = PostbackEvent.objects.get(lender=staging)
    assert (event.lead_id, event.status, event.nonce != "") == (lead.pk, "pre_approved", True)
    assert Lead.objects.get(pk=lead.pk).status == "pre_approved"
    no_overflow(page)
    screenshot("-4-debugger")

    nav(page, "Leads").click()
    page.get_by_role("link", name=lead.tracking_id).click()
    expect(page.locator(".timeline")).to_contain_text("Postback pre_approved")
    no_overflow(page)
    screenshot("-5-lead")

    for name, suffix in (("Products", "-6-products"), ("SLA", "-7-sla"), ("Onboarding", "-8-onboarding-done")):
        nav(page, name).click()
        no_overflow(page)
        screenshot(suffix)
    expect(page.locator(".checklist .done")).to_have_count(4 + 1)  # staging: all but submission; production: key

    page.set_viewport_size(DESKTOP)
    for path, suffix in (("/partners/postbacks/", "-9-debugger-desktop"), ("/partners/credentials/",
                                                                           "-10-credentials-desktop")):
        page.goto(live_server.url + path)
        no_overflow(page)
        screenshot(suffix)
