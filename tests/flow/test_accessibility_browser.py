"""Accessibility of the hosted flow in headless Chromium at a phone's width (360 × 740), in Spanish
and in English, on the demo data: axe-core (vendored from the npm registry: tests/vendor/) finds
no violation on any flow page, and a consumer goes from the catalog to the lender's portal with
the keyboard alone (Tab, Enter, Space; typing in the fields), the portal in their language.

The lenders' side is played by the services the engine calls (no worker): these tests are about
what the consumer meets. Each page is saved under test-artifacts/ to be looked at.
"""

import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from apps.leads.engine.results import decision_record, submission_record
from apps.leads.models import DecisionRequest, Lead
from apps.leads.resume_links import resume_link_create
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from apps.listings.models import Listing
from apps.origins.models import Origin
from tests.conftest import ARTIFACTS
from tests.support import wait_until

pytestmark = [pytest.mark.browser]

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"
AXE_VERSION = "4.14.1"
PHONE = {"width": 360, "height": 740}
LANGUAGES = {"es-co": "es-CO", "en": "en"}
# Every rule axe-core runs by default: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                         targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}));
}"""


@pytest.fixture
def demo(live_server, transactional_db, broker_isolation):
    call_command("seed_demo", site_url=live_server.url, admin_password="demo-password", stdout=StringIO())


@pytest.fixture(params=list(LANGUAGES))
def phone(request, browser, live_server):
    """A phone-sized browser reading `language`. CSP is bypassed so the test can inject axe-core
    (the site's policy rightly refuses inline scripts); the pages themselves are unchanged."""
    language = request.param
    context = browser.new_context(viewport=PHONE, locale=LANGUAGES[language], bypass_csp=True)
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    page = context.new_page()
    page.language = language
    page.violations = {}
    yield page
    context.close()


def audit(page: Page, name: str) -> None:
    """Save the page to look at, and run axe-core on it; violations are gathered per page."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"a11y-{page.language}-{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    assert page.evaluate("axe.version") == AXE_VERSION
    violations = page.evaluate(AXE_RUN)
    if violations:
        page.violations[name] = violations


def offers(n: int) -> DecisionResult:
    return DecisionResult(decision=DecisionKind.APPROVED, offers=tuple(
        Offer(lender_offer_id=f"A-{n}-{k}", amount=Decimal(amount), term_months=12 + 12 * (n + k),
              monthly_payment=Decimal(amount // (12 + 12 * (n + k)) + 40_000 * n), annual_rate=Decimal("0.2450"))
        for k, amount in enumerate((3_000_000, 5_000_000))))


def shows(page: Page, selector: str) -> None:
    """Load the page again until `selector` shows: the waiting page may reload itself at the same
    moment (it polls the journey's state), which aborts a reload of ours."""
    for _ in range(3):
        try:
            page.goto(page.url)
            expect(page.locator(selector).first).to_be_visible(timeout=10_000)
            return
        except PlaywrightError:
            continue
    expect(page.locator(selector).first).to_be_visible(timeout=10_000)


def fill_identity(page: Page) -> None:
    for name, value in (("document_number", "1020304050"), ("full_name", "Ana María Pérez"),
                        ("monthly_income", "3.500.000"), ("requested_amount", "5.000.000"),
                        ("birth_date", "1990-01-31"), ("email", "ana.perez@example.com")):
        if page.locator(f"#id_{name}").count():
            page.locator(f"#id_{name}").fill(value)
    if page.locator("#id_region").count():
        page.locator("#id_region").select_option("CO-DC")
    if page.locator("#id_employment_status_0").count():
        page.locator("#id_employment_status_0").check()
    for name in ("accept_terms", "accept_privacy", "accept_data_processing"):
        page.locator(f"#id_{name}").check()
    page.locator("form.form button[type=submit]").click()


def test_every_flow_page_has_no_accessibility_violation_in_both_languages(demo, live_server, phone):
    page, url = phone, live_server.url
    page.goto(f"{url}/")
    audit(page, "home")
    page.goto(f"{url}/o/movilco/")
    audit(page, "catalog")
    listing = Listing.objects.get(product__lender__code="banco-andino")
    page.locator(f"#listing-{listing.listing_id} button").click()
    expect(page).to_have_url(re.compile(r"/identity$"))
    audit(page, "identity")
    page.locator("form.form button[type=submit]").click()
    audit(page, "identity-errors")
    fill_identity(page)
    expect(page).to_have_url(re.compile(r"/decision$"))
    audit(page, "decision-waiting")
    lead = Lead.objects.get(public_token=page.url.split("/")[-2])
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=offers(0))
    shows(page, ".offer label")
    audit(page, "decision-offers")
    page.locator(".offer label").first.click()
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/details$"))
    audit(page, "details")
    page.locator("#id_email").fill("ana.perez@example.com")
    page.locator("#id_phone").fill("300 123 4567")
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/handoff"))
    audit(page, "handoff-sending")
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted", redirect_url=f"{url}/legal/"))
    # The interstitial moves on to the lender at once (meta refresh 0): its next request is answered
    # 204 No Content here, which leaves the page where it is, to be audited.
    page.route(re.compile(r"/handoff$"), lambda route: route.fulfill(status=204))
    page.goto(f"{url}/j/{lead.public_token}/handoff?sent")
    audit(page, "handoff-interstitial")
    page.unroute(re.compile(r"/handoff$"))
    page.goto(f"{url}/j/{lead.public_token}/status")
    audit(page, "status")
    page.goto(f"{url}/j/{lead.public_token}/consent")
    audit(page, "consent-receipt")
    page.locator("form.form button[type=submit]").click()  # not confirmed: the box's error
    audit(page, "consent-revoke-unconfirmed")
    page.locator("#id_confirm").check()
    page.locator("form.form button[type=submit]").click()
    audit(page, "consent-revoked")
    page.goto(f"{url}/legal/")
    audit(page, "legal")
    page.goto(f"{url}/j/no-such-journey/decision")
    audit(page, "expired")
    page.goto(f"{url}/o/no-such-origin/")
    audit(page, "not-found")

    Origin.objects.filter(code="billeteraya").update(compare_mode=True)
    page.goto(f"{url}/o/billeteraya/")
    audit(page, "compare-catalog")
    page.locator("form.compare-start button").click()
    audit(page, "compare-identity")
    fill_identity(page)
    expect(page).to_have_url(re.compile(r"/decision$"))
    audit(page, "compare-waiting")
    lead = Lead.objects.get(public_token=page.url.split("/")[-2])
    wait_until(lambda: DecisionRequest.objects.filter(lead=lead).exists(), timeout=10)
    for n, ask in enumerate(DecisionRequest.objects.filter(lead=lead).order_by("lender__name")):
        decision_record(lead_id=lead.pk, lender_id=ask.lender_id, result=offers(n))
    shows(page, ".sorts")
    audit(page, "compare-offers")

    # The result email's one-time link, in a browser that never saw the journey; then used up.
    link = f"{url}/continue/{resume_link_create(lead=lead)}/"
    for name in ("resume-link", "resume-link-used"):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": page.language, "url": url}])
        page.goto(link)
        audit(page, name)
        if name == "resume-link":
            page.locator("form.form button[type=submit]").click()
            expect(page).to_have_url(re.compile(r"/decision$"))

    assert page.violations == {}, page.violations


def tab_to(page: Page, selector: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element matches `selector` (a CSS selector)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def test_a_consumer_goes_from_the_catalog_to_the_lender_with_the_keyboard_alone(demo, live_server, phone):
    page, url = phone, live_server.url
    listing = Listing.objects.get(product__lender__code="banco-andino")
    page.goto(f"{url}/o/movilco/")

    tab_to(page, f"#listing-{listing.listing_id} button")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/identity$"))
    type_into(page, "#id_document_number", "1020304050")
    type_into(page, "#id_full_name", "Ana María Pérez")
    type_into(page, "#id_monthly_income", "3500000")
    for box in ("#id_accept_terms", "#id_accept_privacy", "#id_accept_data_processing"):
        tab_to(page, box)
        page.keyboard.press("Space")
        expect(page.locator(box)).to_be_checked()
    tab_to(page, "form.form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/decision$"))

    lead = Lead.objects.get(public_token=page.url.split("/")[-2])
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=offers(0))
    shows(page, "input[name=offer]")
    tab_to(page, "input[name=offer]")
    page.keyboard.press("Space")
    tab_to(page, "form.form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/details$"))
    type_into(page, "#id_email", "ana.perez@example.com")
    type_into(page, "#id_phone", "3001234567")
    tab_to(page, "form.form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/handoff\?sent$"))

    portal = f"{url}/sandbox/portal/banco-andino/sign?ref=APP-1"
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted", redirect_url=portal))
    try:
        page.reload()  # the interstitial, which moves on to the lender by itself
    except PlaywrightError:
        pass  # the page's own poll got there first
    page.wait_for_url(re.compile(r"/sandbox/portal/banco-andino/sign\?"))
    expect(page.locator("#click-id")).to_have_text(lead.tracking_id)
    # The lender's portal (the sandbox's) speaks the language the consumer used in the flow.
    heading = "Banco Andino: firma tu crédito" if page.language == "es-co" else "Banco Andino: sign your credit"
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("html")).to_have_attribute("lang", page.language)
    audit(page, "keyboard-portal")  # reached from the flow: held to the same bar
    assert page.violations == {}, page.violations
