"""The consumer's journey in headless Chromium, end to end on real parts.

A live server serves the flow and the sandbox lender; a real Celery worker process makes the
lender calls over HTTP; the sandbox's portal page sends a signed postback to our endpoint.
The phone-sized viewport (360 px) is the one consumers mostly have.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from apps.leads.models import Lead, LeadEvent, LeadStatus
from apps.lenders.models import Lender
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.support import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]

# Long enough for the worker to pick the task up and the page to poll (1 s) on a busy machine.
LENDER_WAIT_MS = 20_000


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 360, "height": 780}, "locale": "es-CO"}


@pytest.fixture
def sandbox_shop(live_server):
    origin = OriginFactory(code="movilco", name="MovilCo", prefix_tracking_ids=True)
    lender = LenderFactory(
        code="banco-sandbox", name="Banco Sandbox",
        base_url=f"{live_server.url}/sandbox/embedded/banco-sandbox",
    )
    listing = ListingFactory(
        product=ProductFactory(lender=lender), title="Préstamo Libre Inversión",
        tagline="Respuesta en segundos, sin papeleo", highlights="Sin codeudor\nDesembolso en 24 horas",
    )
    publish(listing=listing, origin=origin)
    return origin


def _fits_the_screen(page: Page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def _choose_the_listing_and_give_identity(page: Page, live_server, *, income: str, screenshot) -> None:
    page.goto(f"{live_server.url}/o/movilco/")
    expect(page.get_by_role("heading", name="Préstamo Libre Inversión")).to_be_visible()
    _fits_the_screen(page)
    screenshot("-1-catalog")
    page.get_by_role("button", name="Solicitar").click()

    expect(page).to_have_url(re.compile(r"/j/[^/]+/identity$"))
    page.get_by_role("group", name="Tipo de documento").get_by_label("Cédula de ciudadanía").check()
    page.get_by_label("Número de documento").fill("1020304050")
    page.get_by_label("Nombre completo").fill("Ana María Pérez")
    page.get_by_label("Ingresos mensuales (COP)").fill(income)
    _accept_the_consents(page)
    page.get_by_role("button", name="Ver mi respuesta").click()


def _accept_the_consents(page: Page) -> None:
    for name in ("accept_terms", "accept_privacy", "accept_data_processing"):
        page.locator(f"#id_{name}").check()


def test_a_consumer_walks_from_the_catalog_to_the_lender_portal_and_the_postback_approves_the_lead(
    page: Page, live_server, celery_worker, sandbox_shop, screenshot
):
    # A mistyped identity first: the errors show and what was typed stays.
    page.goto(f"{live_server.url}/o/movilco/")
    page.get_by_role("button", name="Solicitar").click()
    page.get_by_label("Número de documento").fill("12AB")
    page.get_by_label("Ingresos mensuales (COP)").fill("3.500.000")
    page.get_by_role("button", name="Ver mi respuesta").click()
    expect(page.locator("#id_document_number_error")).to_contain_text("entre 6 y 10 dígitos")
    expect(page.get_by_label("Ingresos mensuales (COP)")).to_have_value("3.500.000")
    _fits_the_screen(page)
    screenshot("-2-identity-errors")

    # Choosing again from the catalog keeps the same journey.
    _choose_the_listing_and_give_identity(page, live_server, income="3.500.000", screenshot=screenshot)
    assert Lead.objects.count() == 1

    expect(page.get_by_role("heading", name=re.compile("tiene ofertas para ti"))).to_be_visible(timeout=LENDER_WAIT_MS)
    _fits_the_screen(page)
    screenshot("-3-offers")
    page.locator(".offer label").first.click()
    page.get_by_role("button", name="Continuar").click()

    expect(page).to_have_url(re.compile(r"/j/[^/]+/details$"))
    page.get_by_label("Correo electrónico").fill("ana.perez@example.com")
    page.get_by_label("Celular").fill("300 123 4567")
    _fits_the_screen(page)
    screenshot("-4-details")
    page.get_by_role("button", name=re.compile("Enviar solicitud")).click()

    page.wait_for_url(re.compile(r"/sandbox/portal/banco-sandbox/sign\?"), timeout=LENDER_WAIT_MS)
    lead = Lead.objects.get()
    assert lead.tracking_id.startswith("movilco_")
    assert page.locator("#click-id").text_content() == lead.tracking_id
    assert lead.status == LeadStatus.HANDED_OFF

    page.locator("select").first.select_option("approved")
    page.get_by_role("button", name=re.compile("send postback|enviar postback", re.IGNORECASE)).click()
    expect(page.locator("#postback-result")).to_contain_text("202", timeout=10_000)
    wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.APPROVED, timeout=10)
    screenshot()


def test_a_consumer_the_lender_turns_down_reads_plain_words_and_can_see_other_offers(
    page: Page, live_server, celery_worker, sandbox_shop, screenshot
):
    _choose_the_listing_and_give_identity(page, live_server, income="900.000", screenshot=lambda *a: None)

    heading = page.get_by_role("heading", name=re.compile("no tiene una oferta para ti"))
    expect(heading).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.get_by_role("link", name="Ver otras ofertas")).to_have_attribute("href", "/o/movilco/")
    assert "error" not in page.content().lower()
    assert Lead.objects.get().status == LeadStatus.NOT_ELIGIBLE
    _fits_the_screen(page)
    screenshot()


def test_a_consumer_whose_lender_call_fails_can_try_again_with_the_same_tracking_id(
    page: Page, live_server, celery_worker, sandbox_shop, screenshot
):
    sandbox_url = Lender.objects.get().base_url
    Lender.objects.update(base_url="http://127.0.0.1:9/closed")  # nothing listens: connection refused
    _choose_the_listing_and_give_identity(page, live_server, income="3.500.000", screenshot=lambda *a: None)

    expect(page.get_by_role("heading", name=re.compile("No pudimos obtener la respuesta"))).to_be_visible(
        timeout=LENDER_WAIT_MS
    )
    expect(page.get_by_text("No es tu culpa")).to_be_visible()
    assert "error" not in page.content().lower()
    _fits_the_screen(page)
    screenshot("-failed")
    tracking_id = Lead.objects.get().tracking_id

    Lender.objects.update(base_url=sandbox_url)  # the lender is back
    page.get_by_role("button", name="Intentar de nuevo").click()

    expect(page.get_by_role("heading", name=re.compile("tiene ofertas para ti"))).to_be_visible(timeout=LENDER_WAIT_MS)
    lead = Lead.objects.get()
    assert lead.tracking_id == tracking_id
    assert lead.events.filter(kind=LeadEvent.Kind.RETRY).count() == 1
    screenshot()


def test_a_consumer_reads_the_flow_in_english_with_pesos_and_the_page_breaks_no_content_policy(
    page: Page, live_server, celery_worker, sandbox_shop, screenshot
):
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    page.goto(f"{live_server.url}/o/movilco/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Choose your credit")).to_be_visible()
    expect(page.locator(".facts").first).to_contain_text("COP 500,000")
    page.get_by_role("button", name="Apply").click()

    page.get_by_label("Document number").fill("1020304050")
    page.get_by_label("Full name").fill("Ana María Pérez")
    page.get_by_label("Monthly income (COP)").fill("3,500,000")
    page.get_by_role("button", name="See my answer").click()
    expect(page.locator("#id_accept_terms_error")).to_contain_text("accept the terms")  # announced: role=alert
    expect(page.locator("#id_accept_terms")).to_be_focused()  # the first field to fix
    expect(page.get_by_label("Full name")).to_have_value("Ana María Pérez")
    _accept_the_consents(page)
    page.get_by_role("button", name="See my answer").click()

    expect(page.get_by_role("heading", name=re.compile("has offers for you"))).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.locator(".offer__facts").first).to_contain_text("COP")
    _fits_the_screen(page)
    screenshot()
    assert Lead.objects.get().language == "en"
    assert violations == []


def test_a_double_submit_sends_one_application_and_the_back_button_lands_on_the_page_that_fits(
    page: Page, live_server, sandbox_shop, screenshot
):
    page.goto(f"{live_server.url}/o/movilco/")
    page.get_by_role("button", name="Solicitar").click()
    page.get_by_label("Número de documento").fill("1020304050")
    page.get_by_label("Nombre completo").fill("Ana María Pérez")
    page.get_by_label("Ingresos mensuales (COP)").fill("3.500.000")
    _accept_the_consents(page)
    page.get_by_role("button", name="Ver mi respuesta").dblclick()
    expect(page).to_have_url(re.compile(r"/j/[^/]+/decision$"))

    page.go_back()  # to the identity form's URL: the journey has moved on, so the decision page
    expect(page).to_have_url(re.compile(r"/j/[^/]+/decision$"))
    expect(page.get_by_role("heading", name=re.compile("Consultando con Banco Sandbox"))).to_be_visible()
    lead = Lead.objects.get()
    assert lead.events.filter(kind=LeadEvent.Kind.IDENTITY).count() == 1
    assert lead.consents.count() == 3
    screenshot()


def test_a_pending_decision_resolves_on_the_same_page_without_the_consumer_doing_anything(
    page: Page, live_server, celery_worker, sandbox_shop, screenshot
):
    from apps.sandbox.models import SandboxLenderSettings

    SandboxLenderSettings.objects.create(lender=Lender.objects.get(), pending_seconds=4.0)
    _choose_the_listing_and_give_identity(page, live_server, income="2.500.777", screenshot=lambda *a: None)

    pending = page.get_by_role("heading", name=re.compile("está revisando tu solicitud"))
    expect(pending).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.locator(".status-link a")).to_have_attribute("href", re.compile(r"^/j/[^/]+/status$"))
    screenshot("-pending")
    expect(page.get_by_role("heading", name=re.compile("tiene ofertas para ti"))).to_be_visible(timeout=LENDER_WAIT_MS)
    screenshot()


def test_in_compare_mode_a_consumer_sees_every_lenders_offers_and_goes_to_the_one_chosen(
    page: Page, live_server, celery_worker, screenshot
):
    origin = OriginFactory(code="billetera", name="Billetera", compare_mode=True)
    for code, name in (("banco-uno", "Banco Uno"), ("banco-dos", "Banco Dos")):
        lender = LenderFactory(code=code, name=name, base_url=f"{live_server.url}/sandbox/embedded/{code}")
        publish(listing=ListingFactory(product=ProductFactory(lender=lender), title=f"Crédito {name}"), origin=origin)

    page.goto(f"{live_server.url}/o/billetera/")
    page.get_by_role("button", name="Comparar todas las ofertas").click()
    page.get_by_label("Número de documento").fill("1020304050")
    page.get_by_label("Nombre completo").fill("Ana María Pérez")
    page.get_by_label("Ingresos mensuales (COP)").fill("3.500.000")
    _accept_the_consents(page)
    page.get_by_role("button", name="Ver mi respuesta").click()

    # Offers show as each lender answers; once both have, the page stops polling.
    expect(page.get_by_role("heading", name="Compara tus ofertas")).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.locator("#journey-poll")).to_have_count(0, timeout=LENDER_WAIT_MS)
    expect(page.locator(".offer__lender", has_text="Banco Uno").first).to_be_visible(timeout=LENDER_WAIT_MS)
    expect(page.locator(".offer__lender", has_text="Banco Dos").first).to_be_visible(timeout=LENDER_WAIT_MS)
    page.get_by_role("link", name="Tasa").click()
    _fits_the_screen(page)
    screenshot("-offers")
    page.locator(".offer", has_text="Banco Dos").first.locator("label").click()
    page.get_by_role("button", name="Continuar con esta oferta").click()

    page.get_by_label("Correo electrónico").fill("ana.perez@example.com")
    page.get_by_label("Celular").fill("300 123 4567")
    page.get_by_role("button", name=re.compile("Enviar solicitud a Banco Dos")).click()
    page.wait_for_url(re.compile(r"/sandbox/portal/banco-dos/sign\?"), timeout=LENDER_WAIT_MS)
    lead = Lead.objects.get()
    assert (lead.compare_mode, lead.lender.code, lead.status) == (True, "banco-dos", LeadStatus.HANDED_OFF)
    screenshot()
