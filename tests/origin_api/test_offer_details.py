"""The short page behind an offerUrl (apps.origin_api.offer_views.details): when the chosen
lender's submission needs a field the origin did not send, following the link records the choice
and asks only for what is missing, validates it, stores it as the hosted flow does, sends the
application and hands the borrower to the lender; a lead with every field goes straight through.

Over real HTTP: the API and the pages on the live server, the sandbox lender answering there,
its calls made by the tasks run at once (eager_tasks)."""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.db import connection

from apps.leads.models import Lead, LeadExtraData, LeadStatus
from apps.lenders.adapters.embedded import EmbeddedFlowAdapter
from apps.origin_api.models import Environment, OriginLead
from apps.origin_api.services import origin_client_create
from tests.factories import ListingFactory, OriginFactory, publish
from tests.origin_api.conftest import lead_body, token_for
from tests.support import database_quiet

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS_FIELDS = {"addressLine": "address_line", "city": "city", "postalCode": "postal_code"}
# What the lender's submission carried beyond identity and contact (recorded by `market`).
SUBMITTED_EXTRA: list[dict] = []


@pytest.fixture
def market(live_server, sandbox_of, monkeypatch, eager_tasks):
    """An origin with API credentials and one lender, the embedded sandbox, whose adapter here
    needs the borrower's address with the application (not to decide): the case an origin's
    lead may not cover. Yields (the API's base URL, a bearer token)."""
    submit = EmbeddedFlowAdapter.submit

    def submit_recorded(self, request, *, idempotency_key):
        SUBMITTED_EXTRA.append(dict(request.consumer.extra))
        return submit(self, request, idempotency_key=idempotency_key)

    monkeypatch.setattr(EmbeddedFlowAdapter, "submit_fields", ("email", "phone", "address_line", "city", "postal_code"))
    monkeypatch.setattr(EmbeddedFlowAdapter, "submit", submit_recorded)
    SUBMITTED_EXTRA.clear()
    sandbox = sandbox_of("embedded")
    origin = OriginFactory(code="billeteraya", name="Billetera Ya", prefix_tracking_ids=True)
    publish(listing=ListingFactory(product=sandbox.product), origin=origin)
    api_client = origin_client_create(origin=origin, environment=Environment.STAGING).client
    yield live_server.url, token_for(api_client)
    database_quiet()  # the live server's last requests done before the database is flushed


def _offer_url(market, body: dict) -> tuple[OriginLead, str]:
    base, token = market
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{base}/api/v1/leads", json=body, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    lead = requests.get(f"{base}/api/v1/leads/{created.json()['uuid']}", headers=headers, timeout=30).json()
    assert lead["status"] == "offers_found", lead
    offers = [offer for group in lead["offers"].values() for offer in group]
    return OriginLead.objects.get(uuid=created.json()["uuid"]), base + urlsplit(offers[0]["offerUrl"]).path


def _without_address(partner_lead_id: str) -> dict:
    body = lead_body(partner_lead_id)
    for name in ADDRESS_FIELDS:
        del body["borrower"][name]
    return body


def _csrf(page: requests.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _api_status(market, origin_lead: OriginLead) -> str:
    base, token = market
    return requests.get(f"{base}/api/v1/leads/{origin_lead.uuid}", headers={"Authorization": f"Bearer {token}"},
                        timeout=30).json()["status"]


def test_a_lead_without_the_address_the_lender_needs_is_asked_for_it_then_handed_off(market):
    origin_lead, url = _offer_url(market, _without_address("wallet-no-address"))
    browser = requests.Session()

    followed = browser.get(url, allow_redirects=False, timeout=30)
    assert followed.status_code == 302 and followed.headers["Location"].endswith("/details")
    assert _api_status(market, origin_lead) == "product_selected"
    page = browser.get(urljoin(url, followed.headers["Location"]), allow_redirects=False, timeout=30)
    assert page.status_code == 200
    asked = set(re.findall(r'<(?:input|select)[^>]* name="(\w+)"', page.text)) - {"csrfmiddlewaretoken", "next"}
    assert asked == {"address_line", "city", "postal_code"}  # only what the origin did not send
    assert "script-src" in page.headers["Content-Security-Policy"] and "<script>" not in page.text

    details = urljoin(url, followed.headers["Location"])
    invalid = browser.post(details, data={"csrfmiddlewaretoken": _csrf(page), "address_line": "Calle 10 # 5-51",
                                          "city": "", "postal_code": "11A"}, allow_redirects=False, timeout=30)
    assert invalid.status_code == 200
    assert "Escribe tu ciudad o municipio." in invalid.text
    assert "El código postal colombiano tiene 6 dígitos, por ejemplo 110111." in invalid.text
    assert Lead.objects.get(pk=origin_lead.lead_id).status == LeadStatus.OFFERED and SUBMITTED_EXTRA == []

    answers = {"csrfmiddlewaretoken": _csrf(invalid), "address_line": " Calle 10  # 5-51 ", "city": "Bogotá",
               "postal_code": "110111"}
    sent = browser.post(details, data=answers, allow_redirects=False, timeout=30)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/lender?sent")
    again = browser.post(details, data=answers, allow_redirects=False, timeout=30)  # a double submit
    assert again.status_code == 303 and again.headers["Location"] == sent.headers["Location"]
    assert SUBMITTED_EXTRA == [{"address_line": "Calle 10 # 5-51", "city": "Bogotá", "postal_code": "110111"}]
    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert lead.status == LeadStatus.SUBMITTED and lead.events.filter(kind="submitted").count() == 1
    assert LeadExtraData.objects.get(lead=lead).values["address_line"] == "Calle 10 # 5-51"
    with connection.cursor() as cursor:  # stored encrypted, as the hosted flow stores it
        cursor.execute("SELECT values::text FROM leads_leadextradata WHERE lead_id = %s", [lead.pk])
        assert "Calle 10" not in cursor.fetchone()[0]

    waiting = browser.get(urljoin(url, sent.headers["Location"]), allow_redirects=False, timeout=30)
    assert waiting.status_code == 200 and 'http-equiv="refresh"' in waiting.text
    handoff = browser.get(urljoin(url, sent.headers["Location"].split("?")[0]), allow_redirects=False, timeout=30)
    assert handoff.status_code == 302
    query = parse_qs(urlsplit(handoff.headers["Location"]).query)
    lead.refresh_from_db()
    assert query["click_id"] == [lead.tracking_id]
    assert query["product_id"] == [lead.product.product_id] and query["listing_id"] == [lead.listing.listing_id]
    assert _api_status(market, origin_lead) == "handed_off"

    # After the hand-off: following the link again, reloading the page or posting it again sends
    # nothing more and leads to the lender or to our own pages, never to an error.
    assert browser.get(url, allow_redirects=False, timeout=30).headers["Location"].endswith("/lender")
    assert browser.get(details, allow_redirects=False, timeout=30).headers["Location"].endswith(urlsplit(url).path)
    late = browser.post(details, data=answers, allow_redirects=False, timeout=30)
    assert late.status_code == 303 and late.headers["Location"].endswith("/lender?sent")
    assert len(SUBMITTED_EXTRA) == 1 and Lead.objects.get(pk=lead.pk).events.filter(kind="handed_off").count() == 1


def test_two_submits_at_the_same_moment_send_one_application(market):
    origin_lead, url = _offer_url(market, _without_address("wallet-twice"))
    browser = requests.Session()
    page = browser.get(url, timeout=30)
    answers = {"csrfmiddlewaretoken": _csrf(page), "address_line": "Calle 10 # 5-51", "city": "Bogotá",
               "postal_code": "110111"}
    statuses: list[int] = []
    start = threading.Barrier(2)

    def submit() -> None:
        start.wait()
        statuses.append(browser.post(url + "/details", data=answers, allow_redirects=False, timeout=60).status_code)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert statuses == [303, 303] and len(SUBMITTED_EXTRA) == 1
    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert lead.status == LeadStatus.SUBMITTED and lead.events.filter(kind="submitted").count() == 1


def test_a_lead_with_every_field_the_lender_needs_goes_straight_to_the_lender(market):
    origin_lead, url = _offer_url(market, lead_body("wallet-with-address"))
    browser = requests.Session()

    followed = browser.get(url, allow_redirects=False, timeout=30)
    assert followed.status_code == 302 and followed.headers["Location"].endswith("/lender")
    assert SUBMITTED_EXTRA == [{"address_line": "Calle 10 # 5-51", "city": "Bogotá", "postal_code": "110111"}]
    handoff = browser.get(urljoin(url, followed.headers["Location"]), allow_redirects=False, timeout=30)
    assert handoff.status_code == 302
    assert parse_qs(urlsplit(handoff.headers["Location"]).query)["click_id"] == [
        Lead.objects.get(pk=origin_lead.lead_id).tracking_id]


def test_the_page_speaks_english_to_an_english_browser_and_refuses_a_forged_link(market):
    _origin_lead, url = _offer_url(market, _without_address("wallet-english"))
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"

    page = browser.get(url, timeout=30)
    assert page.status_code == 200 and "Complete your application" in page.text and "Postal code" in page.text
    forged = browser.get(url[:-4] + "AAAA/details", allow_redirects=False, timeout=30)
    assert forged.status_code == 404
    assert browser.post(url[:-4] + "AAAA/details", data={}, timeout=30).status_code in (403, 404)


def test_in_a_phone_browser_the_page_asks_for_the_address_and_the_borrower_lands_on_the_lender(
        market, page, screenshot):
    """Real Chromium at a phone's width, under the site's CSP: the form's POST ends on a page of
    ours, which moves on to the lender (a redirect off-site at the end of a form POST would be
    blocked by form-action 'self')."""
    origin_lead, url = _offer_url(market, _without_address("wallet-browser"))
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.set_viewport_size({"width": 360, "height": 740})
    page.set_extra_http_headers({"Accept-Language": "es-CO,es;q=0.9"})

    page.goto(url)
    page.get_by_label("Dirección de tu casa").fill("Calle 10 # 5-51")
    page.get_by_label("Ciudad o municipio").fill("Bogotá")
    page.get_by_label("Código postal").fill("1101")
    page.get_by_role("button", name=re.compile("Enviar solicitud")).click()
    page.wait_for_selector(".field--invalid")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    screenshot("-errors")
    page.get_by_label("Código postal").fill("110111")
    page.get_by_role("button", name=re.compile("Enviar solicitud")).click()
    page.wait_for_url(re.compile(r"/sandbox/"), timeout=20_000)

    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert parse_qs(urlsplit(page.url).query)["click_id"] == [lead.tracking_id]
    assert lead.status == LeadStatus.HANDED_OFF and violations == []
