"""Waiting pages in headless Chromium, on real parts: a stalled sandbox lender and the honest
words as the wait goes on, the email of the decision to a consumer who left (sent by a real
worker into the outbox, its status link and its one-time link to continue opened in a fresh
browser, which goes on to choose an offer), and compare mode's offers
arriving in place while the consumer's choice stays put.

Screenshots at 360×740, in Spanish and English, under test-artifacts/.
"""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from apps.leads.models import Lead, LeadNotification, LeadStatus, OutboxMessage
from apps.lenders.models import Lender, LenderCall
from apps.sandbox.models import SandboxLenderSettings
from tests.conftest import ARTIFACTS, start_worker, stop_worker
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.support import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LENDER_WAIT_MS = 20_000
EMAIL = "ana.perez@example.com"
PAGE_BUDGET_BYTES = 30 * 1024
PAGE_BUDGET_REQUESTS = 4

WORDS = {
    "es": {
        "apply": "Solicitar", "document": "Número de documento", "name": "Nombre completo",
        "income": "Ingresos mensuales (COP)", "income_value": "3.500.000", "submit": "Ver mi respuesta",
        "slow": "está tardando más de lo normal", "retrying": "está respondiendo lento",
        "keep_trying": "Seguimos intentándolo por ti", "email": "Tu correo electrónico",
        "email_button": "Envíenme la respuesta por correo", "email_done": "te enviaremos la respuesta a tu correo",
        "offers": "tiene ofertas para ti", "status_title": "Estado de tu solicitud",
        "status_sentence": "La entidad tiene ofertas para ti",
        "continue_link": "Continuar mi solicitud", "choose": "Continuar", "email_label": "Correo electrónico",
    },
    "en": {
        "apply": "Apply", "document": "Document number", "name": "Full name",
        "income": "Monthly income (COP)", "income_value": "3,500,000", "submit": "See my answer",
        "slow": "is taking longer than usual", "retrying": "is slow to answer",
        "keep_trying": "We keep trying for you", "email": "Your email",
        "email_button": "Email me the answer", "email_done": "we will email you the answer",
        "offers": "has offers for you", "status_title": "Status of your application",
        "status_sentence": "The lender has offers for you",
        "continue_link": "Continue my application", "choose": "Continue", "email_label": "Email",
    },
}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 360, "height": 740}, "locale": "es-CO"}


@pytest.fixture
def outbox_worker(broker_isolation, transactional_db):
    """A worker that keeps the emails it sends in the outbox (the database), where the test can
    read them: the in-memory backend of tests would keep them inside the worker's process."""
    process = start_worker({**broker_isolation, "EMAIL_BACKEND": "apps.leads.outbox.OutboxEmailBackend"},
                           name="testworker-outbox")
    yield process
    stop_worker(process)


@pytest.fixture
def stalling_shop(live_server):
    """One lender whose first three calls stall past the deadline (2 s in tests), then answers
    with offers, a second and a half late."""
    origin = OriginFactory(code="movilco", name="MovilCo")
    lender = LenderFactory(code="banco-lento", name="Banco Lento",
                           base_url=f"{live_server.url}/sandbox/embedded/banco-lento")
    publish(listing=ListingFactory(product=ProductFactory(lender=lender), title="Préstamo Libre Inversión"),
            origin=origin)
    SandboxLenderSettings.objects.create(lender=lender, failure_script="stall, stall, stall, ok", stall_seconds=5,
                                         latency_ms=1500)
    return origin


def _give_identity(page: Page, words: dict) -> None:
    page.get_by_label(words["document"]).fill("1020304050")
    page.get_by_label(words["name"]).fill("Ana María Pérez")
    page.get_by_label(words["income"]).fill(words["income_value"])
    for name in ("accept_terms", "accept_privacy", "accept_data_processing"):
        page.locator(f"#id_{name}").check()
    page.get_by_role("button", name=words["submit"]).click()


def _page_weight(page: Page) -> tuple[int, int]:
    """Requests and bytes the page loaded (the document and its files; the event stream, which
    carries a few bytes per change, is not part of a page's weight)."""
    return page.evaluate("""() => {
        const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
            .filter(e => !e.name.includes('/events'));
        return [entries.length, entries.reduce((sum, e) => sum + (e.encodedBodySize || 0), 0)];
    }""")


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_stalled_lender_is_told_as_it_happens_and_the_decision_is_emailed_to_the_consumer_who_left(
    page: Page, browser: Browser, live_server, outbox_worker, stalling_shop, settings, screenshot, language, request
):
    settings.FLOW_SLOW_AFTER_SECONDS = 0.5  # in production 8 s; the sandbox's stall fails at 2 s here
    words = WORDS[language]
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    page.goto(f"{live_server.url}/o/movilco/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.get_by_role("button", name=words["apply"]).click()
    _give_identity(page, words)
    expect(page).to_have_url(re.compile(r"/j/[^/]+/decision$"))
    page.evaluate("window.notReloaded = true")
    requests, size = _page_weight(page)
    assert requests <= PAGE_BUDGET_REQUESTS and size <= PAGE_BUDGET_BYTES, (requests, size)

    # Longer than usual, then the first failed attempt: said in place, as each happens.
    expect(page.get_by_role("heading", name=re.compile(words["slow"]))).to_be_visible(timeout=LENDER_WAIT_MS)
    screenshot(f"-{language}-1-slow")
    expect(page.get_by_role("heading", name=re.compile(words["retrying"]))).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.get_by_text(words["keep_trying"])).to_be_visible()
    expect(page.locator("#live-announce")).to_contain_text(words["retrying"])
    screenshot(f"-{language}-2-retrying")

    # The consumer chooses to leave and be emailed.
    page.get_by_label(words["email"]).fill(EMAIL)
    page.get_by_role("button", name=words["email_button"]).click()
    expect(page.get_by_text(re.compile(words["email_done"]))).to_be_visible()
    screenshot(f"-{language}-3-email-chosen")
    lead = Lead.objects.get()
    assert lead.result_email_requested_at is not None

    # The lender answers at last: the page shows the offers in place, the email goes out.
    page.evaluate("window.notReloaded = true")
    expect(page.get_by_role("heading", name=re.compile(words["offers"]))).to_be_visible(timeout=LENDER_WAIT_MS)
    assert page.evaluate("window.notReloaded === true"), "the page reloaded instead of updating in place"
    screenshot(f"-{language}-4-offers")
    wait_until(lambda: OutboxMessage.objects.exists(), timeout=20)
    [message] = OutboxMessage.objects.all()
    assert message.recipients == EMAIL
    assert LeadNotification.objects.get().lead_status == LeadStatus.OFFERED
    [status_path] = set(re.findall(r"/j/[A-Za-z0-9_-]+/status", message.text_body))
    assert status_path == f"/j/{lead.public_token}/status" and status_path in message.html_body
    assert LenderCall.objects.filter(outcome=LenderCall.Outcome.TECHNICAL_FAILURE).count() == 3

    # The link, opened where the journey's session is unknown (a mail app, another phone).
    fresh = browser.new_context(viewport={"width": 360, "height": 740},
                                locale="en-US" if language == "en" else "es-CO")
    try:
        other = fresh.new_page()
        other.goto(f"{live_server.url}{status_path}")
        expect(other.get_by_role("heading", name=words["status_title"])).to_be_visible()
        expect(other.get_by_text(words["status_sentence"])).to_be_visible()
        expect(other.get_by_text("Banco Lento")).to_be_visible()
        other.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{language}-5-status-link.png"), full_page=True)
        # The one-time link reopens the journey in this browser: the offers, then the next step.
        [resume_path] = set(re.findall(r"/continue/[A-Za-z0-9_-]+/", message.text_body))
        assert resume_path in message.html_body
        other.goto(f"{live_server.url}{resume_path}")
        other.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{language}-6-continue-link.png"), full_page=True)
        other.get_by_role("button", name=words["continue_link"]).click()
        expect(other.get_by_role("heading", name=re.compile(words["offers"]))).to_be_visible()
        other.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{language}-7-resumed.png"), full_page=True)
        other.locator(".offer label").first.click()
        other.get_by_role("button", name=words["choose"], exact=True).click()
        expect(other).to_have_url(re.compile(r"/j/[^/]+/details$"))
        expect(other.get_by_label(words["email_label"])).to_be_visible()
    finally:
        fresh.close()
    assert violations == []


def test_in_compare_mode_later_offers_arrive_in_place_and_the_chosen_offer_stays_chosen(
    page: Page, live_server, celery_worker, screenshot
):
    origin = OriginFactory(code="billetera", name="Billetera", compare_mode=True)
    for code, name in (("banco-uno", "Banco Uno"), ("banco-dos", "Banco Dos")):
        lender = LenderFactory(code=code, name=name, base_url=f"{live_server.url}/sandbox/embedded/{code}")
        publish(listing=ListingFactory(product=ProductFactory(lender=lender), title=f"Crédito {name}"), origin=origin)
    SandboxLenderSettings.objects.create(lender=Lender.objects.get(code="banco-dos"), latency_ms=1800)

    page.goto(f"{live_server.url}/o/billetera/")
    page.get_by_role("button", name="Comparar todas las ofertas").click()
    _give_identity(page, WORDS["es"])
    page.evaluate("window.notReloaded = true")

    first = page.locator(".offer", has_text="Banco Uno").first
    expect(first).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.locator(".offer", has_text="Banco Dos")).to_have_count(0)  # still deciding
    first.locator("label").click()
    chosen = first.locator("input").get_attribute("id")
    screenshot("-es-1-first-offers")
    top_before = page.evaluate(f"document.getElementById('{chosen}').getBoundingClientRect().top")

    expect(page.locator(".offer__lender", has_text="Banco Dos").first).to_be_visible(timeout=LENDER_WAIT_MS)
    assert page.evaluate("window.notReloaded === true"), "the page reloaded instead of updating in place"
    expect(page.locator(f"#{chosen}")).to_be_checked()
    top_after = page.evaluate(f"document.getElementById('{chosen}').getBoundingClientRect().top")
    assert abs(top_after - top_before) <= 2, (top_before, top_after)  # it did not move under the consumer
    expect(page.locator("#live-announce")).to_contain_text("Respondieron 2 de 2 entidades")
    screenshot("-es-2-all-offers")

    page.get_by_role("button", name="Continuar con esta oferta").click()
    expect(page).to_have_url(re.compile(r"/j/[^/]+/details$"))
    lead = Lead.objects.select_related("chosen_offer__decision__lender").get()
    assert lead.chosen_offer.decision.lender.code == "banco-uno"

