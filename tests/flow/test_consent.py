"""The consent step shows a published text and records exactly that one, per language; compare
mode says where the data goes; the receipt (page and email) shows what was accepted, and revoking
there stops the journey."""

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from apps.leads.models import CONSENT_RECEIPT, Lead, LeadStatus, RevocationNotice
from apps.leads.notifications import lead_status_notify
from apps.legal.models import ConsentText
from apps.legal.selectors import consent_text_current
from apps.legal.services import consent_version_publish
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.flow.conftest import IDENTITY_FORM, Journey

pytestmark = pytest.mark.django_db


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_identity_page_shows_the_published_text_and_records_it_in_spanish(journey):
    journey.start()
    shown = consent_text_current(language="es", compare_mode=False)

    page = page_of(journey.client.get(journey.url("identity")))
    assert shown.terms_label in page and shown.data_processing_label in page and shown.sharing in page
    assert f'name="consent_text" value="{shown.pk}"' in page

    journey.give_identity(consent_text=shown.pk)
    assert {(c.text_id, c.language, c.text_version) for c in journey.lead.consents.all()} == {
        (shown.pk, "es", shown.version)}


def test_the_english_page_records_the_english_text(shop):
    journey = Journey(shop, english(Client()))
    journey.start()
    shown = consent_text_current(language="en", compare_mode=False)

    page = page_of(journey.client.get(journey.url("identity")))
    assert "I accept the terms and conditions." in page and shown.sharing in page

    journey.give_identity(consent_text=shown.pk)
    assert {(c.text_id, c.language) for c in journey.lead.consents.all()} == {(shown.pk, "en")}


def test_a_text_newer_than_the_page_is_not_taken_as_accepted_the_consumer_accepts_it_again(journey):
    journey.start()
    old = consent_text_current(language="es", compare_mode=False)
    for language in ("es", "en"):
        for mode in ("single", "compare"):
            ConsentText.objects.create(version="2027-05", language=language, mode=mode, terms_label="Acepto (v5).",
                                       privacy_label="Leí (v5).", data_processing_label="Autorizo (v5).",
                                       sharing="Nuevo texto.")
    consent_version_publish(version="2027-05")

    # The page the consumer read was rendered with the old text: it is still published, so it is
    # what is recorded.
    journey.give_identity(consent_text=old.pk)
    assert set(journey.lead.consents.values_list("text_id", flat=True)) == {old.pk}


def test_a_text_of_another_language_or_mode_is_refused_and_the_boxes_must_be_ticked_again(journey):
    journey.start()
    compare_text = consent_text_current(language="es", compare_mode=True)

    page = page_of(journey.give_identity(consent_text=compare_text.pk))

    assert "Los textos de las autorizaciones cambiaron" in page
    assert journey.reload().status == LeadStatus.NEW and not journey.lead.consents.exists()


@pytest.fixture
def compare_origin(db):
    origin = OriginFactory(code="billetera", name="Billetera", compare_mode=True)
    for code, name in (("alfa", "Banco Alfa"), ("beta", "Fintech Beta")):
        lender = LenderFactory(code=code, name=name)
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
    LenderFactory(code="gamma", name="Crédito Gamma")  # not in this origin's catalog
    return origin


def test_compare_mode_names_every_lender_the_data_goes_to_and_records_the_compare_text(client, compare_origin):
    response = client.post(f"/o/{compare_origin.code}/start")
    lead = Lead.objects.get(public_token=response["Location"].split("/")[2])
    shown = consent_text_current(language="es", compare_mode=True)

    page = page_of(client.get(f"/j/{lead.public_token}/identity"))

    assert shown.sharing in page and "solo se comparten con la entidad que elegiste" not in page
    assert "<li>Banco Alfa</li>" in page and "<li>Fintech Beta</li>" in page and "Gamma" not in page
    client.post(f"/j/{lead.public_token}/identity", {**IDENTITY_FORM, "consent_text": shown.pk})
    assert set(lead.consents.values_list("text_id", flat=True)) == {shown.pk}


def test_the_receipt_opens_from_any_browser_and_shows_what_was_accepted(journey):
    journey.to_offered()
    status_page = page_of(journey.client.get(journey.url("status")))
    assert journey.url("consent") in status_page

    page = page_of(Client().get(journey.url("consent")))  # another browser: the token is the key

    shown = consent_text_current(language="es", compare_mode=False)
    for text in (shown.terms_label, shown.privacy_label, shown.data_processing_label, shown.sharing, shown.version):
        assert text in page
    assert "Revocar mi autorización" in page
    assert "1020304050" not in page and "Ana" not in page  # nothing personal on a token-only page


def test_the_receipt_is_emailed_once_the_address_is_known_in_the_consumers_language(shop):
    journey = Journey(shop, english(Client()))
    journey.to_offered()
    journey.choose_offer()
    journey.give_details()
    journey.give_details()  # a double click
    lead = journey.reload()
    assert list(lead.notifications.values_list("lead_status", flat=True)) == [CONSENT_RECEIPT]
    mail.outbox.clear()

    assert lead_status_notify(lead_id=lead.pk, status=CONSENT_RECEIPT).state == "sent"
    assert lead_status_notify(lead_id=lead.pk, status=CONSENT_RECEIPT).state == "sent"

    [message] = mail.outbox
    assert message.to == ["ana.perez@example.com"]
    assert message.subject == "Your Prosperas consent receipt"
    assert "I accept the terms and conditions." in message.body
    assert f"{settings.SITE_URL}/j/{lead.public_token}/consent" in message.body
    html = message.alternatives[0][0]
    assert f'href="{settings.SITE_URL}/j/{lead.public_token}/consent"' in html


def test_revoking_needs_the_confirmation_then_stops_the_journey_and_says_so(journey):
    journey.to_offered()
    receipt_url = journey.url("consent")

    unconfirmed = page_of(journey.client.post(receipt_url, {}))
    assert "Para revocar, marca la casilla de confirmación." in unconfirmed
    assert journey.reload().consent_revoked_at is None

    response = journey.client.post(receipt_url, {"confirm": "on"})
    again = journey.client.post(receipt_url, {"confirm": "on"})  # a double click
    assert response.status_code == again.status_code == 303
    lead = journey.reload()
    assert lead.consent_revoked_at is not None
    assert RevocationNotice.objects.filter(lead=lead).count() == 0  # no lender call was made in this test

    confirmation = page_of(journey.client.get(receipt_url))
    assert "Revocaste tu autorización. No enviaremos tus datos a ninguna entidad más." in confirmation
    assert "Revocaste esta autorización el" in confirmation and "Revocar mi autorización" not in confirmation
    # Every step of the journey now leads to the receipt, and nothing moves it on.
    assert journey.client.get(journey.url("decision"))["Location"] == receipt_url
    assert journey.choose_offer()["Location"] == receipt_url
    assert journey.reload().status == LeadStatus.OFFERED and journey.lead.chosen_offer is None
    assert "Continuar mi solicitud" not in page_of(journey.client.get(journey.url("status")))


def test_the_receipt_and_the_revocation_read_in_english(shop):
    journey = Journey(shop, english(Client()))
    journey.to_offered()

    page = page_of(journey.client.get(journey.url("consent")))
    assert "Your consent" in page and "Revoke my consent" in page and "What you accepted" in page

    journey.client.post(journey.url("consent"), {"confirm": "on"})
    confirmation = page_of(journey.client.get(journey.url("consent")))
    assert "You revoked your consent. We will not send your details to any other lender." in confirmation
