"""The dashboards in admin: each draws SVG charts from the rollups (a point per day and series),
downloads each chart's numbers as CSV, works under the content security policy, and is seen by
the analyst role and nobody without reports.view_dashboard."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.campaigns.selectors import marketplace_day
from apps.reports.charts import Chart, Series, chart_csv, chart_svg
from apps.reports.rollups import rollups_refresh
from apps.reports.selectors import DASHBOARDS
from tests.reports.conftest import calls_over_days

pytestmark = pytest.mark.django_db
DAYS = 7


def _staff(django_user_model, client, role: str | None):
    user = django_user_model.objects.create_user(f"{role}-user", password="pw-for-tests-only", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def _period() -> dict:
    today = marketplace_day()
    return {"date_from": (today - timedelta(days=DAYS - 1)).isoformat(), "date_to": today.isoformat()}


def _series(html: str, key: str) -> dict[str, str]:
    svg = re.search(rf'<svg class="chart" id="chart-{key}".*?</svg>', html, re.S).group(0)
    return dict(re.findall(r'data-series="([^"]*)">(.*?)</g>', svg, re.S))


@pytest.fixture
def analyst(django_user_model, client):
    return _staff(django_user_model, client, "analyst")


def test_the_funnel_dashboard_draws_a_point_per_day_and_stage_and_a_bar_per_stage(market, analyst):
    rollups_refresh()

    response = analyst.get(reverse("admin:reports_dashboard", args=["funnel"]), _period())

    html = response.content.decode()
    assert response.status_code == 200
    by_day = _series(html, "funnel_by_day")
    assert list(by_day) == ["Started", "Identity", "Decision", "Offer", "Handed off", "Approved", "Disbursed"]
    assert all(body.count("<circle") == DAYS for body in by_day.values())
    bars = _series(html, "funnel")["Leads"]
    assert bars.count("<rect") == 7
    assert re.findall(r"<title>Leads, [^:]+: (\d+) leads</title>", bars) == ["5", "5", "4", "3", "3", "2", "1"]


def test_every_dashboard_renders_svg_without_style_attributes_or_scripts_under_the_policy(market, analyst):
    rollups_refresh()
    for name in DASHBOARDS:
        response = analyst.get(reverse("admin:reports_dashboard", args=[name]), _period())
        html = response.content.decode()
        assert response.status_code == 200, name
        assert html.count('<svg class="chart"') >= 3, name
        assert "style=" not in html and "<script>" not in html.split("</header>")[-1], name
        assert "style-src 'self'" in response["Content-Security-Policy"]
        assert "/static/reports/dashboards.css" in html


def test_the_lender_dashboard_shows_latency_against_the_target_and_a_point_per_day(market, analyst):
    from apps.lenders.models import LenderCall
    from django.utils import timezone

    lead = market.campaign.leads.first()
    LenderCall.objects.create(lender=lead.lender, lead=lead, capability="prequalify", attempt=9, idempotency_key="k",
                              outcome="approved", started_at=timezone.now(), finished_at=timezone.now(),
                              duration_ms=6100)
    rollups_refresh()

    html = analyst.get(reverse("admin:reports_dashboard", args=["lenders"]), _period()).content.decode()

    p95 = _series(html, "latency_p95")
    assert list(p95) == [lead.lender.name]
    assert p95[lead.lender.name].count("<circle") == 1  # one day with calls in the period
    assert 'class="chart__target"' in html and "5 s target" in html


def test_each_chart_downloads_its_numbers_as_csv(market, analyst):
    rollups_refresh()
    today = marketplace_day().isoformat()

    response = analyst.get(reverse("admin:reports_dashboard_csv", args=["funnel", "funnel_by_day"]), _period())

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["label", "Started", "Identity", "Decision", "Offer", "Handed off", "Approved", "Disbursed"]
    assert len(rows) == 1 + DAYS
    assert rows[-1] == [today, "5", "5", "4", "3", "3", "2", "1"]
    pacing = analyst.get(reverse("admin:reports_dashboard_csv", args=["campaigns", "budget_used"]),
                         {**_period(), "campaign": market.campaign.pk}).content.decode()
    spent = 5 * 1000 + 2 * 4000 + 10000
    assert list(csv.reader(io.StringIO(pacing)))[-2] == [today, str(round(100 * spent / 1_000_000, 1))]
    total_cap = analyst.get(reverse("admin:reports_dashboard_csv", args=["campaigns", "total_cap_used"]),
                            {**_period(), "campaign": market.campaign.pk}).content.decode()
    assert list(csv.reader(io.StringIO(total_cap)))[-2] == [today, "5.0"]  # 5 leads of a total cap of 100
    assert analyst.get(reverse("admin:reports_dashboard_csv", args=["funnel", "nope"])).status_code == 404


def test_a_support_user_without_the_permission_cannot_see_the_dashboards(market, django_user_model, client):
    support = _staff(django_user_model, client, "support")

    assert support.get(reverse("admin:reports_dashboard_changelist")).status_code == 403
    assert support.get(reverse("admin:reports_dashboard", args=["funnel"])).status_code == 403
    assert support.get(reverse("admin:reports_dashboard_csv", args=["funnel", "funnel"])).status_code == 403
    assert "Dashboards" not in support.get(reverse("admin:index")).content.decode()


def test_the_analyst_sees_the_dashboards_and_changes_nothing(market, analyst):
    assert analyst.get(reverse("admin:reports_dashboard_changelist")).status_code == 200
    assert 'href="/admin/reports/dashboard/"' in analyst.get(reverse("admin:index")).content.decode()
    page = analyst.post(reverse("admin:campaigns_campaign_change", args=[market.campaign.pk]), {"name": "Hijacked"})
    assert page.status_code == 403
    market.campaign.refresh_from_db()
    assert market.campaign.name != "Hijacked"
    assert analyst.get(reverse("admin:campaigns_campaign_add")).status_code == 403


def test_a_bad_period_is_refused_with_a_message_and_the_default_period_shown(analyst):
    response = analyst.get(reverse("admin:reports_dashboard", args=["funnel"]),
                           {"date_from": "2026-12-01", "date_to": "2026-11-01"})
    assert response.status_code == 200
    assert "The period starts after it ends." in response.content.decode()
    assert analyst.get(reverse("admin:reports_dashboard", args=["nope"])).status_code == 404


def test_the_svg_escapes_names_and_the_csv_matches_the_drawing():
    chart = Chart("k", "A <b> chart", "line", ["d1", "d2", "d3"], [Series("<script>", [1, None, 3])])

    svg = chart_svg(chart)

    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<circle") == 2  # no point where there is no value
    assert chart_csv(chart).splitlines() == ["label,<script>", "d1,1", "d2,", "d3,3"]


@pytest.mark.browser
def test_the_dashboards_draw_their_charts_in_a_browser_under_the_policy(
    market, page, live_server, admin_user, client, screenshot
):
    calls_over_days(market.campaign.lender)
    rollups_refresh()
    client.force_login(admin_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    blocked = []
    page.on("console", lambda message: "Content Security Policy" in message.text and blocked.append(message.text))

    for name in DASHBOARDS:
        page.goto(f"{live_server.url}/admin/reports/dashboard/{name}/")
        charts = page.locator("svg.chart")
        assert charts.count() >= 3
        box = charts.first.bounding_box()
        assert box["width"] > 300 and box["height"] > 100
        screenshot(f"-{name}")
    page.goto(f"{live_server.url}/admin/reports/dashboard/funnel/")
    colour = page.locator("#chart-funnel .chart__series-0 rect").first.evaluate("e => getComputedStyle(e).fill")
    assert colour == "rgb(31, 119, 180)"  # the stylesheet's colour: the class applied, not blocked
    assert blocked == []


def test_names_in_the_csv_are_never_read_as_formulas():
    chart = Chart("k", "t", "bar", ["=HYPERLINK(\"x\")"], [Series("@cmd", [-1])])
    rows = list(csv.reader(io.StringIO(chart_csv(chart))))
    assert rows == [["label", "'@cmd"], ["'=HYPERLINK(\"x\")", "-1"]]
