"""Every flow page in Spanish and in English, on the demo data, read as a consumer reads it.

The pages are walked through every state a journey shows (catalog, identity and its errors for
each demo lender, waiting, pending, offers, rejection, failure, details, hand-off, the lender's
steps on the status page, compare mode, the legal texts, an expired link, a missing page) in both
languages. Each page's visible text (text nodes, the title, aria-labels) is split into words and
checked against the two vocabularies the platform holds:

- Spanish: every word of the catalog's msgids, of the strings the sources mark for translation
  (in the catalog or not yet) and of the Spanish values of listing and product content; English: every word of the catalog's translations and of the English content values.
- A word only one language uses (not in the other vocabulary, not a name: lenders, origins,
  regions) on a page of the other language is an untranslated string: "Solicitar" on an English
  catalog, a Spanish tagline on an English card, an English label on a Spanish page.

Elements marked with another `lang` (the language switch's "English" / "Español") are left out:
they are meant to be in the other language.
"""

import datetime
import re
from html.parser import HTMLParser
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation

from apps.campaigns.catalog import catalog_for_origin
from apps.leads.engine.results import decision_fail, decision_record, submission_fail, submission_record
from apps.leads.models import Lead
from apps.leads.resume_links import resume_link_create
from apps.legal.models import DataController
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from apps.lenders.models import Lender
from apps.lenders.selectors import lender_required_fields
from apps.listings.models import Listing
from apps.origins.models import Origin
from apps.products.models import REGIONS, Product, ProductKind
from tests.flow.conftest import DETAILS_FORM, IDENTITY_FORM, approved, lender_postback_recorded
from tests.flow.test_locale import _po_entries, source_msgids

pytestmark = pytest.mark.django_db

LANGUAGES = ("es-co", "en")
WORD = re.compile(r"[^\W\d_]+")
# Not words: addresses (a status link printed in full, a contact email), codes with digits in them
# (a tracking ID), and a catalog's placeholders.
NOT_WORDS = re.compile(r"\b\w+://\S+|\S+@\S+|\S*\d\S*|%\(\w+\)[sd]")
EXTRA_ANSWERS = {"birth_date": "1990-01-31", "region": "CO-DC", "requested_amount": "5.000.000",
                 "email": "ana.perez@example.com", "employment_status": "employed",
                 "address_line": "Calle 45 # 12-30", "city": "Bogotá", "postal_code": "110111"}
# Consumer content staff write per language (apps/listings/translation.py, apps/products/translation.py).
CONTENT_FIELDS = {Listing: ("title", "tagline", "highlights", "call_to_action"), Product: ("name",),
                  ProductKind: ("name",)}


class VisibleText(HTMLParser):
    """What a reader gets from a page: text nodes, <title>, aria-label/alt/placeholder/title
    attributes; not scripts, styles, nor elements in another language than the page's."""

    SKIP = {"script", "style", "noscript"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page_language, self.parts, self.stack = "", [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.page_language = attrs.get("lang", "")
        hidden = tag in self.SKIP or (attrs.get("lang") and attrs["lang"] != self.page_language)
        if not self._hidden() and not hidden:
            self.parts += [attrs[name] for name in ("aria-label", "alt", "placeholder", "title") if attrs.get(name)]
        if tag not in self.VOID:
            self.stack.append(bool(hidden))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._hidden():
            self.parts.append(data)

    def _hidden(self) -> bool:
        return any(self.stack)


def visible_text(html: str) -> tuple[str, str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.page_language, " ".join(" ".join(parser.parts).split())


def words(*texts: str) -> set[str]:
    return {word.lower() for text in texts for word in WORD.findall(NOT_WORDS.sub(" ", text or ""))}


def _content_values(language: str) -> list[str]:
    suffix = language.replace("-", "_")
    values = []
    for model, fields in CONTENT_FIELDS.items():
        for row in model.objects.all():
            for name in fields:
                if hasattr(row, f"{name}_{suffix}"):
                    values.append(getattr(row, f"{name}_{suffix}") or "")
                elif language == settings.LANGUAGE_CODE:  # one column only: the source language's
                    values.append(getattr(row, name) or "")
    return values


def vocabularies() -> dict[str, set[str]]:
    """Words only Spanish uses and words only English uses, by what the platform itself holds."""
    catalog = _po_entries(plurals=True)
    spanish = words(*catalog.keys(), *source_msgids(), *_content_values("es-co"))
    english = words(*catalog.values(), *_content_values("en"))
    names = words(*Lender.objects.values_list("name", flat=True), *Origin.objects.values_list("name", flat=True),
                  *(text for row in DataController.objects.values_list("legal_name", "address") for text in row),
                  *REGIONS.values(),
                  IDENTITY_FORM["full_name"], "Prosperas")
    return {"en": spanish - english - names, "es-co": english - spanish - names}


class Walk:
    """One consumer's browser in one language, and the pages it has seen."""

    def __init__(self, language: str):
        self.language = language
        self.pages: dict[str, str] = {}
        self.new_browser()

    def new_browser(self) -> None:
        """Another consumer (one journey per browser and origin at a time)."""
        self.client = Client(HTTP_ACCEPT_LANGUAGE=self.language)
        self.client.cookies[settings.LANGUAGE_COOKIE_NAME] = self.language

    def see(self, name: str, url: str, data: dict | None = None, status: int = 200):
        response = self.client.post(url, data) if data is not None else self.client.get(url)
        assert response.status_code == status, (name, url, response.status_code)
        self.pages[name] = response.content.decode()
        return response

    def start(self, origin: Origin, listing: Listing | None = None) -> Lead:
        data = {"listing_id": listing.listing_id} if listing else {}
        response = self.client.post(f"/o/{origin.code}/start", data)
        assert response.status_code == 303, response.status_code
        return Lead.objects.get(public_token=response["Location"].split("/")[2])

    def give_identity(self, lead: Lead, lender: Lender | None) -> None:
        asked = lender_required_fields(lender) if lender else tuple(EXTRA_ANSWERS)
        answers = {name: value for name, value in EXTRA_ANSWERS.items() if name in asked}
        response = self.client.post(f"/j/{lead.public_token}/identity", {**IDENTITY_FORM, **answers})
        assert response.status_code == 303, response.content.decode()[:2000]


def walk_every_page(language: str) -> dict[str, str]:
    walk = Walk(language)
    walk.see("home", "/")
    walk.see("legal", "/legal/")
    walk.see("not found", "/o/no-such-origin/", status=404)
    for origin in Origin.objects.order_by("code"):
        walk.see(f"catalog {origin.code}", f"/o/{origin.code}/")

    # Identity for every demo lender (each asks its own extra fields), with every error shown once.
    movilco, billeteraya = Origin.objects.get(code="movilco"), Origin.objects.get(code="billeteraya")
    entries = {entry.listing.pk: entry for origin in (movilco, billeteraya) for entry in catalog_for_origin(origin=origin)}
    leads = {}
    for entry in entries.values():
        origin = movilco if entry.campaign.origins.filter(pk=movilco.pk).exists() else billeteraya
        walk.new_browser()
        lead = walk.start(origin, entry.listing)
        code = entry.campaign.lender.code
        walk.see(f"identity {code}", f"/j/{lead.public_token}/identity")
        walk.see(f"identity errors {code}", f"/j/{lead.public_token}/identity", {"document_number": "12AB"})
        walk.give_identity(lead, entry.campaign.lender)
        walk.see(f"waiting {code}", f"/j/{lead.public_token}/decision")
        leads[code] = (Lead.objects.get(pk=lead.pk), walk.client)

    # One lender's journey through to the lender's steps; the others in each other state.
    lead, walk.client = leads["banco-andino"]
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=approved("OF-1", "OF-2"))
    walk.see("offers", f"/j/{lead.public_token}/decision")
    walk.see("offers error", f"/j/{lead.public_token}/offer", {})
    offer = lead.decisions.get().offers.order_by("amount").first()
    walk.client.post(f"/j/{lead.public_token}/offer", {"offer": offer.pk})
    walk.see("details", f"/j/{lead.public_token}/details")
    walk.see("details errors", f"/j/{lead.public_token}/details", {"email": "nope", "phone": "12"})
    walk.client.post(f"/j/{lead.public_token}/details", DETAILS_FORM)
    walk.see("submitting", f"/j/{lead.public_token}/handoff")
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted",
                                                               redirect_url="https://portal.lender.example/x"))
    walk.see("interstitial", f"/j/{lead.public_token}/handoff?sent")
    walk.client.get(f"/j/{lead.public_token}/handoff")
    for status, amount in (("pre_approved", None), ("approved", 5_000_000), ("disbursed", 5_000_000)):
        lender_postback_recorded(Lead.objects.get(pk=lead.pk), status, timezone.now(), amount=amount)
    walk.see("with the lender", f"/j/{lead.public_token}/handoff")
    walk.see("status", f"/j/{lead.public_token}/status")
    walk.see("status elsewhere", f"/j/{lead.public_token}/status")

    lead, walk.client = leads["finanzas-ya"]
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=DecisionResult(decision=DecisionKind.PENDING))
    walk.see("pending", f"/j/{lead.public_token}/decision")
    lead, walk.client = leads["credirapido"]
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=DecisionResult(
        decision=DecisionKind.REJECTED, reason="income", reason_category="income"))
    walk.see("rejected", f"/j/{lead.public_token}/decision")
    lead, walk.client = leads["coopunion"]
    decision_fail(lead_id=lead.pk, message="timeout")
    walk.see("decision failed", f"/j/{lead.public_token}/decision")
    # The result email's one-time link, opened in another browser; then once more, in a third.
    token = resume_link_create(lead=lead)
    elsewhere, again = Walk(language), Walk(language)
    elsewhere.see("resume link", f"/continue/{token}/")
    elsewhere.client.post(f"/continue/{token}/")
    again.client.get(f"/continue/{token}/")
    again.see("resume link used", f"/j/{lead.public_token}/status")
    walk.pages.update(elsewhere.pages | again.pages)

    # A submission that failed, and a journey opened from another browser.
    walk.new_browser()
    lead = walk.start(billeteraya, entries[next(pk for pk, e in entries.items()
                                                if e.campaign.lender.code == "coopunion")].listing)
    walk.give_identity(lead, Lender.objects.get(code="coopunion"))
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=approved("OF-9"))
    walk.client.post(f"/j/{lead.public_token}/offer", {"offer": lead.decisions.get().offers.get().pk})
    walk.client.post(f"/j/{lead.public_token}/details", DETAILS_FORM)
    submission_fail(lead_id=lead.pk, message="timeout")
    walk.see("submission failed", f"/j/{lead.public_token}/handoff")
    stranger = Walk(language)
    stranger.see("expired", f"/j/{lead.public_token}/identity", status=404)
    walk.pages["expired"] = stranger.pages["expired"]

    # Compare mode: identity once, offers of several lenders side by side.
    Origin.objects.filter(pk=billeteraya.pk).update(compare_mode=True)
    compare = Walk(language)
    compare.see("compare catalog", "/o/billeteraya/")
    lead = compare.start(billeteraya)
    compare.see("compare identity", f"/j/{lead.public_token}/identity")
    compare.give_identity(lead, None)
    compare.see("compare waiting", f"/j/{lead.public_token}/decision")
    for n, request in enumerate(lead.decision_requests.select_related("lender")):
        decision_record(lead_id=lead.pk, lender_id=request.lender_id, result=DecisionResult(
            decision=DecisionKind.APPROVED, offers=(Offer(
                lender_offer_id=f"C-{n}", amount=5_000_000, term_months=24 + 12 * n,
                monthly_payment=265_000 - 20_000 * n, annual_rate="0.2850"),)))
    compare.see("compare offers", f"/j/{lead.public_token}/decision")
    compare.see("compare by total cost", f"/j/{lead.public_token}/decision?sort=total")
    return {**walk.pages, **compare.pages}


@pytest.fixture
def demo(db):
    call_command("seed_demo", admin_password="demo-password", stdout=StringIO())


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_flow_page_reads_in_one_language_only(demo, language):
    other_only = vocabularies()[language]
    pages = walk_every_page(language)

    assert len(pages) >= 30
    sizes = {name: len(html.encode()) for name, html in pages.items()}
    assert max(sizes.values()) <= 30 * 1024, sizes  # small pages on a cheap phone's connection
    strays = {}
    for name, html in pages.items():
        page_language, text = visible_text(html)
        assert page_language == language, (name, page_language)
        found = sorted(words(text) & other_only)
        if found:
            strays[name] = found
    assert strays == {}, f"words of the other language on {language} pages: {strays}"


def test_the_vocabularies_tell_the_languages_apart(demo):
    """The check above has teeth: the demo's own Spanish and English words are told apart."""
    by_page_language = vocabularies()
    spanish_only, english_only = by_page_language["en"], by_page_language["es-co"]

    assert {"solicitar", "ofertas", "ingresos", "cuota", "entidad"} <= spanish_only
    assert {"apply", "offers", "income", "payment", "lender"} <= english_only
    with translation.override("en"):
        english_card = Listing.objects.get(product__product_id="ln_personal_01").tagline
    assert words(english_card) & english_only and not words(english_card) & spanish_only


@pytest.mark.parametrize(("language", "written"), [
    ("es-co", "3 de diciembre de 2026 a las 14:05"),  # lower case, as Spanish writes months
    ("en", "Dec. 3, 2026, 2:05 p.m."),
])
def test_the_lenders_steps_are_dated_as_each_language_writes_dates(journey, language, written):
    lead = journey.to_submitted()
    journey.client.get(journey.url("handoff"))
    occurred = timezone.make_aware(datetime.datetime(2026, 12, 3, 14, 5))
    lender_postback_recorded(lead, "approved", occurred)

    page = journey.client.get(journey.url("status"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert f">{written}</time>" in page
    assert "Diciembre" not in page
