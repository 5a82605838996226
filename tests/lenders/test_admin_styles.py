"""The lender admin's statistics and dry-run pages colour their verdicts with classes from a static
stylesheet: the content security policy (style-src 'self') blocks style attributes."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.lenders.models import LenderCall
from tests.factories import CampaignFactory, LeadFactory, LenderFactory

STYLESHEET = 'href="/static/lenders/admin.css"'


def _calls(lender, durations):
    started = timezone.now() - timedelta(minutes=1)
    lead = LeadFactory()
    LenderCall.objects.bulk_create(
        LenderCall(lender=lender, lead=lead, capability="prequalify", attempt=1, idempotency_key="k",
                   outcome="approved", started_at=started, finished_at=started, duration_ms=duration)
        for duration in durations
    )


def test_the_statistics_page_marks_met_and_missed_targets_by_class_without_style_attributes(admin_client):
    _calls(LenderFactory(name="Banco Rápido"), [100] * 20)
    _calls(LenderFactory(name="Banco Lento"), [30_000] * 20)

    response = admin_client.get("/admin/lenders/lender/stats/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="lender-admin__ok">met<' in html and 'class="lender-admin__error">missed<' in html
    assert "style=" not in html
    assert STYLESHEET in html
    assert "style-src 'self'" in response["Content-Security-Policy"]


def test_the_dry_run_page_marks_a_failed_call_by_class_without_style_attributes(admin_client):
    lender = LenderFactory(environment="staging", base_url="http://127.0.0.1:9/unreachable")

    response = admin_client.post(f"/admin/lenders/lender/{lender.pk}/dry-run/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="lender-admin__error">' in html
    assert "style=" not in html
    assert STYLESHEET in html


def test_the_stylesheet_defines_the_classes_the_pages_use():
    from django.contrib.staticfiles import finders

    css = open(finders.find("lenders/admin.css"), encoding="utf-8").read()
    assert ".lender-admin__ok" in css and ".lender-admin__error" in css


@pytest.mark.browser
def test_the_statistics_page_shows_its_colours_in_a_browser_under_the_content_security_policy(
    page, live_server, admin_user, client, screenshot
):
    _calls(LenderFactory(name="Banco Rápido"), [100] * 20)
    _calls(LenderFactory(name="Banco Lento"), [30_000] * 20)
    client.force_login(admin_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    blocked = []  # what the browser refused under the policy, as it reports it on the console
    page.on("console", lambda message: "Content Security Policy" in message.text and blocked.append(message.text))

    page.goto(f"{live_server.url}/admin/lenders/lender/stats/")

    colour = "element => getComputedStyle(element).color"
    assert page.locator(".lender-admin__error").evaluate(colour) == "rgb(186, 33, 33)"
    assert page.locator(".lender-admin__ok").evaluate(colour) == "rgb(30, 123, 52)"
    assert blocked == []
    screenshot()


@pytest.mark.browser
def test_the_campaign_and_lender_lists_show_their_colours_in_a_browser_under_the_content_security_policy(
    page, live_server, admin_user, client, screenshot
):
    CampaignFactory(name="Campaña de prueba")
    client.force_login(admin_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    blocked = []
    page.on("console", lambda message: "Content Security Policy" in message.text and blocked.append(message.text))
    colour = "element => getComputedStyle(element).color"

    page.goto(f"{live_server.url}/admin/lenders/lender/")
    assert page.locator(".circuit--closed").first.evaluate(colour) == "rgb(30, 126, 52)"
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    state = page.locator("[class^='campaign-state--']").first
    expected = {"active": "rgb(30, 126, 52)", "scheduled": "rgb(12, 99, 168)", "paused": "rgb(154, 103, 0)",
                "exhausted": "rgb(176, 42, 55)", "ended": "rgb(108, 117, 125)", "draft": "rgb(108, 117, 125)"}
    assert state.evaluate(colour) == expected[state.get_attribute("class").removeprefix("campaign-state--")]
    assert blocked == []
    screenshot()
