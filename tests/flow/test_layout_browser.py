"""The flow at a phone's width (360 × 740) in headless Chromium, in Spanish and in English, on the
demo data: nothing cut, nothing wider than the screen, compare mode's sort links on one line, the
status page's timeline in line. Each page is saved under test-artifacts/ to be looked at.

The lenders' side is played by the services the engine calls (no worker): these tests are about
what the consumer sees.
"""

import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.leads.engine.results import decision_record, submission_record
from apps.leads.models import DecisionRequest, Lead
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from apps.listings.models import Listing
from apps.origins.models import Origin
from tests.conftest import ARTIFACTS
from tests.flow.conftest import lender_postback_recorded
from tests.support import wait_until

pytestmark = [pytest.mark.browser]

PHONE = {"width": 360, "height": 740}
LANGUAGES = {"es-co": "es-CO", "en": "en"}
ANSWERS = {"document_number": "1020304050", "full_name": "Ana María Pérez", "monthly_income": "3.500.000",
           "requested_amount": "5.000.000", "birth_date": "1990-01-31", "email": "ana.perez@example.com",
           "address_line": "Calle 45 # 12-30", "city": "Bogotá", "postal_code": "110111"}

# Every element whose text must be read whole: labels of radio buttons, consents and offers.
CUT_TEXT = """() => [...document.querySelectorAll('.choices label, .field--check label, .offer label, .button')]
  .filter((el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
  .map((el) => el.textContent.trim())"""
# A <select> shows its chosen option on one line: the longest option must fit inside the box.
CUT_OPTIONS = """() => {
  const context = document.createElement('canvas').getContext('2d');
  const cut = [];
  for (const select of document.querySelectorAll('select')) {
    const style = getComputedStyle(select);
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    // the text's room: the box less its padding and the arrow (about 1.5 em)
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
      - 1.5 * parseFloat(style.fontSize);
    for (const option of select.options) {
      if (context.measureText(option.text).width > room) cut.push(option.text);
    }
  }
  return cut;
}"""
# How many lines each sort link's text takes, and where the link's line is.
SORT_LINES = """() => [...document.querySelectorAll('.sorts a')].map((link) => {
  const range = document.createRange();
  range.selectNodeContents(link);
  return [link.textContent.trim(), new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size,
          Math.round(link.getBoundingClientRect().top)];
})"""
# Where each timeline entry's text and date start, in pixels from the left, and where its number
# (the list's marker, outside the item's box) must end.
TIMELINE_EDGES = """() => [...document.querySelectorAll('.timeline li')].map((item) => [
  Math.round(item.getBoundingClientRect().left), Math.round(item.querySelector('.timeline__what').getBoundingClientRect().left),
  Math.round(item.querySelector('time').getBoundingClientRect().left)])"""


@pytest.fixture
def demo(live_server, transactional_db, broker_isolation):
    # broker_isolation: the journeys' lender tasks are published (and left alone) in this run's keys.
    call_command("seed_demo", site_url=live_server.url, admin_password="demo-password", stdout=StringIO())


@pytest.fixture(params=list(LANGUAGES))
def phone(request, browser, live_server):
    """A phone-sized browser whose consumer reads `language` (its Accept-Language and cookie)."""
    language = request.param
    context = browser.new_context(viewport=PHONE, locale=LANGUAGES[language])
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    page = context.new_page()
    page.language = language
    yield page
    context.close()


def look(page: Page, name: str) -> None:
    """Save the page for a person to look at, then check what a machine can."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout-{page.language}-{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
    assert page.evaluate(CUT_TEXT) == [], f"{name}: text cut"
    assert page.evaluate(CUT_OPTIONS) == [], f"{name}: options too long for their box"


def fill_identity(page: Page) -> None:
    page.locator("#id_document_type_0").check()
    for name, value in ANSWERS.items():
        field = page.locator(f"#id_{name}")
        if field.count():
            field.fill(value)
    if page.locator("#id_region").count():
        page.locator("#id_region").select_option("CO-DC")
    if page.locator("#id_employment_status_0").count():
        page.locator("#id_employment_status_0").check()
    for name in ("accept_terms", "accept_privacy", "accept_data_processing"):
        page.locator(f"#id_{name}").check()
    page.locator("form.form button[type=submit]").click()


def test_the_journey_fits_a_phone_in_both_languages(demo, live_server, phone):
    page = phone
    page.goto(f"{live_server.url}/o/movilco/")
    look(page, "1-catalog")
    expect(page.locator(".listing__action button").first).to_have_text("Solicitar" if page.language == "es-co" else "Apply")

    # Finanzas Ya asks the most (amount, birth date, email, region, employment status).
    listing = Listing.objects.get(product__lender__code="finanzas-ya")
    page.locator(f"#listing-{listing.listing_id} button").click()
    expect(page).to_have_url(re.compile(r"/identity$"))
    look(page, "2-identity")
    page.locator("form.form button[type=submit]").click()  # nothing typed: every error shows
    look(page, "3-identity-errors")

    page.goto(f"{live_server.url}/legal/")
    look(page, "9-legal")


def test_compare_mode_and_the_status_page_fit_a_phone_in_both_languages(demo, live_server, phone):
    page = phone
    Origin.objects.filter(code="billeteraya").update(compare_mode=True)
    page.goto(f"{live_server.url}/o/billeteraya/")
    look(page, "4-compare-catalog")
    page.locator("form.compare-start button").click()
    expect(page).to_have_url(re.compile(r"/identity$"))
    look(page, "5-compare-identity")
    fill_identity(page)
    expect(page).to_have_url(re.compile(r"/decision$"))

    lead = Lead.objects.get(public_token=page.url.split("/")[-2])
    wait_until(lambda: DecisionRequest.objects.filter(lead=lead).exists(), timeout=10)
    for n, ask in enumerate(DecisionRequest.objects.filter(lead=lead).order_by("lender__name")):
        offers = tuple(Offer(lender_offer_id=f"C-{n}-{k}", amount=amount, term_months=12 + 12 * (n + k),
                             monthly_payment=amount // (12 + 12 * (n + k)) + 40_000 * n, annual_rate="0.2450")
                       for k, amount in enumerate((3_000_000, 5_000_000)))
        decision_record(lead_id=lead.pk, lender_id=ask.lender_id,
                        result=DecisionResult(decision=DecisionKind.APPROVED, offers=offers))
    page.reload()
    expect(page.locator(".sorts")).to_be_visible(timeout=10_000)
    look(page, "6-compare-offers")
    lines = page.evaluate(SORT_LINES)
    assert [label for label, count, _ in lines if count != 1] == [], lines  # no link broken in two
    assert len({top for _, _, top in lines}) == 1, lines  # and the three on one line
    page.locator(".sorts a").last.click()  # the total cost
    look(page, "6-compare-offers-by-total-cost")

    page.locator(".offer label").first.click()
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/details$"))
    page.locator("#id_email").fill(ANSWERS["email"])
    page.locator("#id_phone").fill("300 123 4567")
    look(page, "7-details")
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/handoff"))

    lead.refresh_from_db()
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted",
                                                               redirect_url=f"{live_server.url}/legal/"))
    page.goto(f"{live_server.url}/j/{lead.public_token}/handoff")  # handed off: the lender's page
    for status, amount in (("pre_approved", None), ("approved", 5_000_000), ("disbursed", 5_000_000)):
        lender_postback_recorded(Lead.objects.get(pk=lead.pk), status, timezone.now(), amount=amount)
    page.goto(f"{live_server.url}/j/{lead.public_token}/status")
    look(page, "8-status")
    edges = page.evaluate(TIMELINE_EDGES)
    assert len(edges) == 3
    # One column of numbers (the items' edge), the steps and their dates in one column beside it.
    assert len({edge for row in edges for edge in row[1:]}) == 1 and len({row[0] for row in edges}) == 1, edges
