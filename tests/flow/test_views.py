"""The hosted flow's views, wired to the real leads services on the test database.

The lender's side is played by the services the lender engine calls (decision_record,
submission_record...), so these tests need no worker: the Celery tasks that identity and
details enqueue on commit never run here (the test transaction is rolled back), and
django_capture_on_commit_callbacks shows they were enqueued.
"""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone, translation

from apps.flow.templatetags.flow_format import money
from apps.leads.selectors import leads_due_for_lender_work
from apps.leads.models import Lead, LeadEvent, LeadStatus
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.products.models import Product, ProductKind
from tests.factories import CampaignFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.flow.conftest import (
    IDENTITY_FORM,
    LENDER_REDIRECT,
    PERSONAL_VALUES,
    Journey,
    approved,
    lender_postback_applied,
)

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return response.content.decode()


# --- Home and catalog ----------------------------------------------------------------------------


def test_home_links_each_active_origin_and_the_team_pages(client, shop):
    OriginFactory(code="oldapp", name="Old App", is_active=False)

    page = _text(client.get("/"))

    assert 'href="/o/movilco/"' in page
    assert "/o/oldapp/" not in page
    for link in ('href="/admin/"', 'href="/api/docs/"', 'href="/docs/postbacks/"'):
        assert link in page


def test_catalog_shows_only_the_listings_a_live_campaign_publishes_for_the_origin(client, shop):
    other_origin = OriginFactory()
    hidden = {
        "for another origin": publish(listing=ListingFactory(title="Otra app"), origin=other_origin),
        "campaign ended": publish(listing=ListingFactory(title="Terminada"), origin=shop.origin,
                                  ends_at=timezone.now() - timedelta(hours=1)),
        "campaign not started": publish(listing=ListingFactory(title="Futura"), origin=shop.origin,
                                        starts_at=timezone.now() + timedelta(days=1)),
        "campaign paused": publish(listing=ListingFactory(title="Pausada"), origin=shop.origin, is_active=False),
    }
    inactive_listing = ListingFactory(title="Retirada", is_active=False)
    publish(listing=inactive_listing, origin=shop.origin)

    page = _text(client.get("/o/movilco/"))

    assert "Préstamo Libre Inversión" in page
    assert f'value="{shop.listing.listing_id}"' in page
    for why, campaign in hidden.items():
        assert campaign.listings.get().title not in page, why
    assert "Retirada" not in page


def test_catalog_shows_lender_highlights_and_ranges_formatted_for_cop(client, shop):
    page = _text(client.get("/o/movilco/"))

    assert "Banco Aliado" in page
    assert "Respuesta en segundos" in page  # the tagline
    assert "Sin codeudor" in page and "Desembolso en 24 horas" in page
    assert "$500.000 a $20.000.000" in page
    assert "6 a 48 meses" in page
    assert "18 % a 32 % E.A." in page


def test_catalog_cards_name_the_product_kind_and_give_a_representative_example(client, shop):
    example = shop.listing.representative_example
    with translation.override("es-co"):
        payment, total = money(example.monthly_payment), money(example.total_to_repay)

    page = _text(client.get("/o/movilco/"))

    assert "Banco Aliado · Libre inversión" in page
    assert (f"Ejemplo: {money(example.amount)} a {example.term_months} meses, cuota de {payment} al mes, "
            f"total a pagar {total} (tasa 32 % E.A.).") in page
    assert example.total_to_repay > example.amount  # at 32 % E.A. it costs more than it lends


def test_catalog_names_a_kind_staff_added_by_its_name(client, shop):
    ProductKind.objects.create(code="vehicle", name="Crédito de vehículo")
    Product.objects.filter(pk=shop.listing.product_id).update(kind="vehicle")

    assert "Banco Aliado · Crédito de vehículo" in _text(client.get("/o/movilco/"))


def test_catalog_has_one_csrf_protected_form_whose_buttons_name_their_listing(client, shop):
    page = _text(client.get("/o/movilco/"))

    assert page.count('action="/o/movilco/start"') == 1
    assert page.count('name="csrfmiddlewaretoken"') == 2  # the listings', the language switch's
    assert f'name="listing_id" value="{shop.listing.listing_id}"' in page


@pytest.mark.parametrize("listings", [1, 30])
def test_catalog_runs_a_bounded_number_of_queries_whatever_the_number_of_listings(
    client, shop, listings, django_assert_max_num_queries
):
    for n in range(listings - 1):
        campaign = publish(listing=ListingFactory(title=f"Extra {n}"), origin=shop.origin)
        if n % 2:
            extra = ListingFactory(product=campaign.product, title=f"Segunda {n}")
            campaign.listings.add(extra)
    Journey(shop, client).start()  # a session with a journey in it costs its own queries

    with django_assert_max_num_queries(5):
        page = _text(client.get("/o/movilco/"))

    assert page.count('name="listing_id"') >= listings


@pytest.mark.parametrize("code", ["nosuchorigin", "sleepy"])
def test_catalog_of_an_unknown_or_inactive_origin_is_a_friendly_404(client, code):
    OriginFactory(code="sleepy", is_active=False)

    response = client.get(f"/o/{code}/")

    assert response.status_code == 404
    assert "No encontramos esta página" in _text(response)


# --- Choosing a listing --------------------------------------------------------------------------


def test_choosing_starts_a_journey_with_the_origins_tracking_id_and_goes_to_identity(journey):
    response = journey.start()

    assert response["Location"] == f"/j/{journey.lead.public_token}/identity"
    assert journey.lead.tracking_id.startswith("movilco_")
    assert (journey.lead.listing, journey.lead.campaign) == (journey.shop.listing, journey.shop.campaign)


def test_choosing_twice_keeps_one_journey_and_moves_it_to_the_new_listing(journey, shop):
    second = ListingFactory(product=shop.listing.product, title="Otra oferta")
    shop.campaign.listings.add(second)

    journey.start()
    first_token = journey.lead.public_token
    journey.start(second)

    assert Lead.objects.count() == 1
    assert journey.lead.public_token == first_token
    assert journey.lead.listing == second


def test_choosing_after_giving_identity_resumes_the_journey_instead_of_starting_another(journey):
    journey.start()
    journey.give_identity()

    response = journey.client.post("/o/movilco/start", {"listing_id": journey.shop.listing.listing_id})

    assert Lead.objects.count() == 1
    assert response.status_code == 303
    assert response["Location"] == journey.url("decision")


def test_choosing_after_a_not_eligible_answer_starts_a_new_journey(journey, shop):
    journey.start()
    journey.give_identity()
    first = journey.lender_decides(DecisionResult(decision=DecisionKind.REJECTED, reason="policy"))

    journey.start()

    assert Lead.objects.count() == 2
    assert journey.lead.pk != first.pk and journey.lead.tracking_id != first.tracking_id
    # The old tab still belongs to this browser and still shows its answer.
    assert journey.client.get(f"/j/{first.public_token}/decision").status_code == 200


def test_two_browsers_choosing_get_two_journeys(shop):
    first, second = Journey(shop), Journey(shop)
    first.start()
    second.start()

    assert Lead.objects.count() == 2


def test_choosing_a_listing_the_origin_cannot_see_goes_back_to_the_catalog(client, shop):
    elsewhere = publish(listing=ListingFactory(), origin=OriginFactory()).listings.get()

    response = client.post("/o/movilco/start", {"listing_id": elsewhere.listing_id}, follow=True)

    assert response.redirect_chain == [("/o/movilco/", 303)]
    assert "Esa oferta ya no está disponible" in _text(response)
    assert not Lead.objects.exists()


def test_choosing_without_the_csrf_token_is_refused(shop):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/o/movilco/start", {"listing_id": shop.listing.listing_id})

    assert response.status_code == 403
    assert not Lead.objects.exists()


# --- Identity ------------------------------------------------------------------------------------


def test_identity_page_has_a_label_for_every_input(journey):
    journey.start()

    page = _text(journey.client.get(journey.url("identity")))

    for name in ("document_number", "full_name", "monthly_income"):
        assert f'<label for="id_{name}">' in page
    # The document type is a group of radio buttons named by its legend, each with its label.
    assert "<legend>Tipo de documento</legend>" in page
    for n in range(3):
        assert f'<label for="id_document_type_{n}">' in page
    assert "Préstamo Libre Inversión" in page


def test_identity_submitted_twice_keeps_one_lead_one_identity_event_and_one_lender_call(
    journey, django_capture_on_commit_callbacks
):
    journey.start()

    with django_capture_on_commit_callbacks() as callbacks:
        first = journey.give_identity()
        second = journey.give_identity(full_name="Otro Nombre")

    assert (first.status_code, second.status_code) == (303, 303)
    assert first["Location"] == second["Location"] == journey.url("decision")
    assert Lead.objects.count() == 1
    lead = journey.reload()
    assert lead.events.filter(kind=LeadEvent.Kind.IDENTITY).count() == 1
    assert lead.status == LeadStatus.AWAITING_DECISION
    assert (lead.full_name, lead.monthly_income) == ("Ana María Pérez", 3_500_000)
    assert len(callbacks) == 1  # one lender_prequalify enqueued


@pytest.mark.django_db(transaction=True)
def test_a_broker_down_when_identity_commits_still_shows_the_waiting_page_and_leaves_the_work_to_the_sweep(
    journey, broker_down, settings
):
    """The database says what is due: the lead is stored and charged, the enqueue that fails after
    the commit is logged, and the sweep finds the journey waiting with no call."""
    journey.start()

    response = journey.give_identity()

    assert response.status_code == 303 and response["Location"] == journey.url("decision")
    lead = journey.reload()
    assert lead.status == LeadStatus.AWAITING_DECISION
    assert lead.ledger.count() == 1
    soon = timezone.now() + timedelta(seconds=settings.LENDER_SWEEP_STALE_SECONDS + 1)
    assert [due.pk for due in leads_due_for_lender_work(stale_before=soon, limit=10)] == [lead.pk]


def test_identity_with_invalid_data_answers_200_with_field_errors_and_keeps_what_was_typed(journey):
    journey.start()

    response = journey.give_identity(document_number="12AB", full_name="Ana 2", monthly_income="0")

    assert response.status_code == 200
    page = _text(response)
    assert 'value="12AB"' in page and 'value="Ana 2"' in page and 'value="0"' in page
    assert re.search(r'<input type="radio" name="document_type" value="CC"[^>]* checked', page)
    for name in ("document_number", "full_name", "monthly_income"):
        assert f'id="id_{name}_error"' in page
        assert f'aria-describedby="id_{name}_helptext id_{name}_error"' in page or \
               f'aria-describedby="id_{name}_error"' in page
    assert "entre 6 y 10 dígitos" in page
    assert journey.reload().status == LeadStatus.NEW


# --- Decision ------------------------------------------------------------------------------------


def test_waiting_for_the_decision_polls_the_state_and_refreshes_without_javascript(journey):
    journey.start()
    journey.give_identity()

    page = _text(journey.client.get(journey.url("decision")))

    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "js/live.js" in page
    assert f'data-state-url="/j/{journey.lead.public_token}/state"' in page
    assert f'data-events-url="/j/{journey.lead.public_token}/events"' in page
    assert 'data-state="awaiting_decision:usual"' in page


def test_state_answers_the_status_and_nothing_personal(journey):
    journey.start()
    journey.give_identity()

    response = journey.client.get(journey.url("state"))

    assert response.json() == {"state": "awaiting_decision:usual"}
    assert "no-store" in response["Cache-Control"]


def test_offers_are_listed_with_amount_term_payment_and_rate(journey):
    journey.to_offered()

    page = _text(journey.client.get(journey.url("decision")))

    assert page.count('type="radio" name="offer"') == 2
    assert "$5.000.000" in page and "$6.000.000" in page
    assert "24 meses" in page and "Cuota $265.000/mes" in page and "Tasa 28,5 % E.A." in page
    assert "live.js" not in page


def test_pending_decision_says_the_lender_is_reviewing_and_keeps_checking(journey):
    journey.start()
    journey.give_identity()
    journey.lender_decides(DecisionResult(decision=DecisionKind.PENDING))

    page = _text(journey.client.get(journey.url("decision")))

    assert "está revisando tu solicitud" in page
    assert "Seguiremos consultando" in page
    assert "js/live.js" in page


def test_not_eligible_is_said_in_plain_words_never_as_an_error(journey):
    journey.start()
    journey.give_identity()
    journey.lender_decides(DecisionResult(decision=DecisionKind.REJECTED, reason="consumer_not_eligible"))

    page = _text(journey.client.get(journey.url("decision")))

    assert "no tiene una oferta para ti" in page
    assert "error" not in page.lower()
    assert "consumer_not_eligible" not in page
    assert 'href="/o/movilco/"' in page


def test_technical_failure_offers_a_retry_that_keeps_the_tracking_id(journey, django_capture_on_commit_callbacks):
    journey.start()
    journey.give_identity()
    tracking_id = journey.lender_fails_to_decide().tracking_id

    page = _text(journey.client.get(journey.url("decision")))
    assert "No es tu culpa" in page
    assert f'action="/j/{journey.lead.public_token}/retry"' in page

    with django_capture_on_commit_callbacks() as callbacks:
        response = journey.client.post(journey.url("retry"))

    assert response.status_code == 303 and response["Location"] == journey.url("decision")
    lead = journey.reload()
    assert (lead.status, lead.tracking_id) == (LeadStatus.AWAITING_DECISION, tracking_id)
    assert lead.events.filter(kind=LeadEvent.Kind.RETRY).count() == 1
    assert len(callbacks) == 1


# --- Offer and details ---------------------------------------------------------------------------


def test_choosing_an_offer_goes_to_the_details_page(journey):
    journey.to_offered()
    offer = journey.lead.decisions.get().offers.get(lender_offer_id="OF-002")

    response = journey.choose_offer(offer.pk)

    assert response.status_code == 303 and response["Location"] == journey.url("details")
    assert journey.reload().chosen_offer == offer
    page = _text(journey.client.get(journey.url("details")))
    assert "$6.000.000" in page
    for name in ("email", "phone"):
        assert f'<label for="id_{name}">' in page


def test_choosing_an_offer_of_another_journey_is_refused_with_a_message(journey, shop):
    other = Journey(shop)
    other.to_offered()
    journey.to_offered()

    response = journey.choose_offer(other.lead.decisions.get().offers.first().pk)

    assert response.status_code == 200
    assert 'id="id_offer_error"' in _text(response)
    assert journey.reload().chosen_offer is None


def test_details_submit_the_application_once(journey, django_capture_on_commit_callbacks):
    journey.to_offered()
    journey.choose_offer()

    with django_capture_on_commit_callbacks() as callbacks:
        first = journey.give_details()
        second = journey.give_details()

    assert first.status_code == second.status_code == 303
    assert first["Location"] == journey.url("handoff") + "?sent"  # through the interstitial
    assert second["Location"] == journey.url("handoff")  # the journey had moved on: its page
    lead = journey.reload()
    assert (lead.status, lead.email, lead.phone) == (LeadStatus.SUBMITTING, "ana.perez@example.com", "+573001234567")
    # One lender_submit enqueued, and the consent receipt's email (the address is known now), once.
    assert len(callbacks) == 2
    assert list(lead.notifications.values_list("lead_status", flat=True)) == ["consent_receipt"]


def test_invalid_details_answer_200_with_field_errors_and_keep_what_was_typed(journey):
    journey.to_offered()
    journey.choose_offer()

    response = journey.give_details(email="ana@", phone="2001234567")

    assert response.status_code == 200
    page = _text(response)
    assert 'value="ana@"' in page and 'value="2001234567"' in page
    assert 'id="id_email_error"' in page and 'id="id_phone_error"' in page
    assert journey.reload().status == LeadStatus.OFFERED


# --- Hand-off ------------------------------------------------------------------------------------


def test_handoff_waits_while_submitting(journey):
    journey.to_submitting()

    response = journey.client.get(journey.url("handoff"))

    assert response.status_code == 200
    assert "Enviando tu solicitud a Banco Aliado" in _text(response)
    assert "js/poll.js" in _text(response)


def test_handoff_redirects_to_the_lender_with_click_id_product_id_and_listing_id(journey):
    lead = journey.to_submitted()

    response = journey.client.get(journey.url("handoff"))

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://portal.lender.example/sign?ref=APP-99182&")
    assert parse_qs(urlsplit(location).query) == {
        "ref": ["APP-99182"], "click_id": [lead.tracking_id],
        "product_id": [lead.product.product_id], "listing_id": [lead.listing.listing_id],
    }
    assert journey.reload().status == LeadStatus.HANDED_OFF
    again = journey.client.get(journey.url("handoff"))
    assert (again.status_code, again["Location"]) == (302, location)
    assert journey.lead.events.filter(kind=LeadEvent.Kind.HANDED_OFF).count() == 1


def test_handoff_keeps_the_lenders_own_parameters(journey):
    journey.to_submitting()
    journey.lender_accepts_submission("https://portal.lender.example/sign?ref=A%2FB&click_id=theirs")

    location = journey.client.get(journey.url("handoff"))["Location"]

    assert location == (
        "https://portal.lender.example/sign?ref=A%2FB&click_id=theirs"
        f"&product_id={journey.lead.product.product_id}&listing_id={journey.lead.listing.listing_id}"
    )


def test_submission_failure_offers_a_retry(journey, django_capture_on_commit_callbacks):
    journey.to_submitting()
    journey.lender_fails_to_accept_submission()

    page = _text(journey.client.get(journey.url("handoff")))
    assert "No es tu culpa" in page and "/retry" in page

    with django_capture_on_commit_callbacks() as callbacks:
        response = journey.client.post(journey.url("retry"))

    assert response["Location"] == journey.url("handoff")
    assert journey.reload().status == LeadStatus.SUBMITTING
    assert len(callbacks) == 1


@pytest.mark.parametrize(("status", "words"), [
    ("approved", "continuará el proceso contigo"),
    ("rejected", "cerró esta solicitud"),
])
def test_after_the_lender_reports_the_journey_page_says_where_the_application_is(journey, status, words):
    journey.to_submitted()
    journey.client.get(journey.url("handoff"))
    journey.lender_reports(status)

    response = journey.client.get(journey.url())
    page = _text(journey.client.get(response["Location"]))

    assert response["Location"] == journey.url("handoff")
    assert words in page


def test_the_hand_off_shows_a_short_page_naming_the_lender_before_the_redirect(journey):
    journey.to_submitted()

    interstitial = journey.client.get(journey.url("handoff") + "?sent")
    redirect = journey.client.get(journey.url("handoff"))

    page = interstitial.content.decode()
    assert interstitial.status_code == 200
    assert "Te llevamos a Banco Aliado" in page
    # A new navigation, not the form POST's redirect chain, so CSP form-action 'self' allows it;
    # at once (a delayed refresh is a time limit the consumer cannot adjust: WCAG 2.2.1).
    assert f'<meta http-equiv="refresh" content="0;url={journey.url("handoff")}">' in page
    assert redirect.status_code == 302 and redirect["Location"].startswith(LENDER_REDIRECT)


# --- Reload, back button, old tabs, other people -------------------------------------------------


def test_every_page_reloaded_shows_the_same_page_and_changes_nothing(journey):
    """Two GETs of each step's page: same status code, same status, no new event."""

    def reload_twice(step: str, expected_status: int = 200):
        before = (journey.reload().status, journey.lead.events.count())
        codes = [journey.client.get(journey.url(step)).status_code for _ in range(2)]
        assert codes == [expected_status] * 2, step
        assert (journey.reload().status, journey.lead.events.count()) == before, step

    journey.start()
    reload_twice("identity")
    journey.give_identity()
    reload_twice("decision")
    journey.lender_decides(approved("OF-001"))
    reload_twice("decision")
    journey.choose_offer()
    reload_twice("details")
    reload_twice("decision")  # back to the offers from the details page
    journey.give_details()
    reload_twice("handoff")
    journey.lender_accepts_submission()
    journey.client.get(journey.url("handoff"))  # the hand-off itself
    reload_twice("handoff", expected_status=302)


@pytest.mark.parametrize(("step", "method"), [
    ("identity", "get"), ("identity", "post"), ("decision", "get"), ("offer", "post"), ("details", "get"),
    ("details", "post"),
])
def test_an_old_tab_on_an_earlier_page_lands_on_the_page_for_the_status(journey, step, method):
    journey.to_submitting()
    events = journey.lead.events.count()

    response = getattr(journey.client, method)(journey.url(step), {"offer": 1} if method == "post" else None)

    assert response.status_code == (303 if method == "post" else 302)
    assert response["Location"] == journey.url("handoff")
    assert journey.lead.events.count() == events


@pytest.mark.parametrize("step", ["details", "handoff"])
def test_a_tab_ahead_of_the_journey_lands_on_the_page_for_the_status(journey, step):
    journey.to_offered()

    response = journey.client.get(journey.url(step))

    assert (response.status_code, response["Location"]) == (302, journey.url("decision"))


@pytest.mark.parametrize(("walk", "step"), [
    (lambda j: j.start(), "identity"),
    (lambda j: (j.start(), j.give_identity()), "decision"),
    (lambda j: j.to_offered(), "decision"),
    (lambda j: (j.to_offered(), j.choose_offer()), "details"),
    (lambda j: j.to_submitting(), "handoff"),
    (lambda j: j.to_submitted(), "handoff"),
])
def test_resume_redirects_to_the_page_for_the_journeys_status(journey, walk, step):
    walk(journey)

    response = journey.client.get(journey.url())

    assert response.status_code == 302 and response["Location"] == journey.url(step)


@pytest.mark.parametrize("step", ["", "identity", "decision", "details", "handoff", "state"])
def test_someone_elses_token_gets_the_expired_page_with_a_404(journey, shop, step):
    journey.start()
    stranger = Client()

    response = stranger.get(journey.url(step))

    assert response.status_code == 404
    assert "Este enlace ya venció" in _text(response)
    assert 'href="/o/movilco/"' in _text(response)


def test_someone_elses_token_cannot_post_either(journey, shop):
    journey.start()

    response = Client().post(journey.url("identity"), IDENTITY_FORM)

    assert response.status_code == 404
    assert journey.reload().status == LeadStatus.NEW


def test_an_unknown_token_gets_the_expired_page_linking_home(client):
    response = client.get("/j/not-a-real-token/")

    assert response.status_code == 404
    assert 'href="/"' in _text(response)


def test_journey_pages_are_never_cached(journey):
    journey.start()

    assert "no-store" in journey.client.get(journey.url("identity"))["Cache-Control"]


def test_no_url_of_the_whole_walk_carries_personal_data(journey):
    locations = [
        journey.start()["Location"],
        journey.give_identity()["Location"],
    ]
    journey.lender_decides(approved("OF-001"))
    locations.append(journey.choose_offer()["Location"])
    locations.append(journey.give_details()["Location"])
    journey.lender_accepts_submission()
    locations.append(journey.client.get(journey.url("handoff"))["Location"])

    for location in locations:
        for value in PERSONAL_VALUES:
            assert value not in location, (value, location)


def test_campaigns_of_other_products_do_not_publish_the_listing(client, shop):
    """A listing attached to a campaign of another product is not shown (the selector's rule)."""
    stray = CampaignFactory(product=ProductFactory())
    stray.listings.add(ListingFactory(title="Desparejada"))
    stray.origins.add(shop.origin)

    assert "Desparejada" not in _text(client.get("/o/movilco/"))


def test_listing_details_are_escaped(client, shop):
    shop.listing.title = "<script>alert(1)</script>"
    shop.listing.save()

    page = _text(client.get("/o/movilco/"))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_handoff_without_a_usable_lender_url_says_so_instead_of_looping(journey):
    journey.to_submitting()
    journey.lender_accepts_submission(redirect_url="")

    response = journey.client.get(journey.url("handoff"))

    assert response.status_code == 200
    assert "No pudimos abrir la página de Banco Aliado" in _text(response)


# --- Language: Spanish (Colombia) by default, English on request -------------------------------


def test_pages_are_in_colombian_spanish_by_default_and_in_english_after_the_switch(client, shop):
    page = _text(client.get("/o/movilco/"))
    assert '<html lang="es-co">' in page
    assert "Elige tu crédito" in page and "$500.000 a $20.000.000" in page

    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/o/movilco/"})
    assert (switched.status_code, switched["Location"]) == (302, "/o/movilco/")

    page = _text(client.get("/o/movilco/"))
    assert '<html lang="en">' in page
    assert "Choose your credit" in page and "COP 500,000 to COP 20,000,000" in page
    assert 'value="es-co"' in page  # the switch now offers Spanish back


def test_a_browser_asking_for_english_gets_english(client, shop):
    page = _text(client.get("/o/movilco/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"))

    assert "Choose your credit" in page


def test_the_journey_keeps_the_language_the_consumer_reads_it_in(journey):
    journey.start()
    assert journey.reload().language == "es"

    journey.client.post("/i18n/setlang/", {"language": "en", "next": journey.url("identity")})
    page = _text(journey.client.get(journey.url("identity")))

    assert "Tell us about yourself" in page
    assert journey.reload().language == "en"


# --- Identity: consents, documents, what the lender's adapter needs ------------------------------


@pytest.mark.parametrize("listings", [1, 30])
def test_choosing_a_listing_runs_a_bounded_number_of_queries_whatever_the_number_of_listings(
    client, shop, listings, django_assert_max_num_queries
):
    for n in range(listings - 1):
        publish(listing=ListingFactory(title=f"Extra {n}"), origin=shop.origin)
    first = Journey(shop, client)
    first.to_submitted()
    first.client.get(first.url("handoff"))  # handed off: a new choice starts a new journey

    # The session, the origin, the listing's entry, the session's journey, the new lead and its
    # event in one transaction, the session's update in another.
    with django_assert_max_num_queries(11):
        response = client.post("/o/movilco/start", {"listing_id": shop.listing.listing_id})
    assert response.status_code == 303 and first.lead.public_token not in response["Location"]


@pytest.mark.parametrize("listings", [1, 30])
def test_giving_identity_runs_a_bounded_number_of_queries_whatever_the_number_of_listings(
    journey, shop, listings, django_assert_max_num_queries
):
    for n in range(listings - 1):
        publish(listing=ListingFactory(title=f"Extra {n}"), origin=shop.origin)
    journey.start()

    # The session, the journey; then one transaction: the move with the identity, the consents
    # (one insert), the delivery's check and charge (apps.campaigns), the event.
    with django_assert_max_num_queries(13):
        response = journey.give_identity()
    assert response.status_code == 303


def test_identity_and_contact_data_given_in_the_flow_are_stored_encrypted(journey):
    from django.db import connection

    from prosperas import crypto

    journey.to_offered()
    journey.choose_offer()
    journey.give_details()

    lead = journey.reload()
    assert (lead.document_number, lead.full_name, lead.email) == ("1020304050", "Ana María Pérez",
                                                                  "ana.perez@example.com")
    assert lead.phone.endswith("3001234567")
    columns = ("document_number", "full_name", "email", "phone")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM leads_lead WHERE id = %s", [lead.pk])
        stored = dict(zip(columns, cursor.fetchone()))
    for column in columns:
        assert getattr(lead, column) not in stored[column]
        assert crypto.decrypt(stored[column]) == getattr(lead, column)


def test_identity_stores_each_accepted_consent_with_its_text_version_and_address(journey):
    from apps.legal.selectors import consent_text_current

    journey.start()
    journey.give_identity()

    shown = consent_text_current(language="es", compare_mode=False)
    consents = journey.lead.consents.order_by("kind")
    assert [c.kind for c in consents] == ["data_processing", "privacy", "terms"]
    assert {(c.text_version, c.text_id, c.language, c.ip_address) for c in consents} == {
        (shown.version, shown.pk, "es", "127.0.0.1")}
    assert all(c.accepted_at is not None for c in consents)


def test_identity_without_the_data_processing_authorization_is_refused_next_to_the_box_and_keeps_the_typing(journey):
    journey.start()

    response = journey.give_identity(accept_data_processing="")

    page = _text(response)
    assert response.status_code == 200
    assert 'id="id_accept_data_processing_error" role="alert"' in page
    assert "Sin esta autorización la entidad no puede estudiar tu solicitud." in page
    assert 'value="Ana María Pérez"' in page and 'value="3.500.000"' in page
    assert journey.reload().status == LeadStatus.NEW
    assert not journey.lead.consents.exists()


def test_identity_page_links_the_texts_the_consumer_accepts(journey):
    journey.start()

    page = _text(journey.client.get(journey.url("identity")))
    legal = _text(journey.client.get("/legal/"))

    for anchor in ("terms", "privacy", "data-processing"):
        assert f'href="/legal/#{anchor}"' in page
        assert f'id="{anchor}"' in legal
    assert "Ley 1581 de 2012" in legal


def test_identity_asks_birth_date_and_region_only_when_the_lenders_adapter_declares_them(journey, shop):
    journey.start()
    page = _text(journey.client.get(journey.url("identity")))
    assert 'name="birth_date"' not in page and 'name="region"' not in page

    shop.campaign.lender.adapter = "async_lead"  # declares requested_amount, birth_date, region...
    shop.campaign.lender.save(update_fields=["adapter"])
    page = _text(journey.client.get(journey.url("identity")))
    assert 'name="birth_date"' in page and 'name="region"' in page and 'name="requested_amount"' in page

    missing = _text(journey.give_identity())
    assert "Escribe tu fecha de nacimiento." in missing and "Elige el departamento donde vives." in missing

    journey.give_identity(birth_date="1990-01-31", region="CO-ANT", requested_amount="5.000.000",
                          email="ana.perez@example.com", employment_status="employed")
    lead = journey.reload()
    assert (lead.status, lead.birth_date, lead.region, lead.requested_amount, lead.email) == (
        LeadStatus.AWAITING_DECISION, "1990-01-31", "CO-ANT", 5_000_000, "ana.perez@example.com")


def test_declared_fields_without_a_lead_column_are_asked_and_stored_encrypted_beside_the_lead(journey, shop):
    from apps.leads.models import LeadExtraData

    shop.campaign.lender.adapter = "offers_api"  # declares an address, a city and a postal code
    shop.campaign.lender.save(update_fields=["adapter"])
    journey.start()
    page = _text(journey.client.get(journey.url("identity")))
    assert all(f'name="{name}"' in page for name in ("address_line", "city", "postal_code"))

    wrong = _text(journey.give_identity(birth_date="1990-01-31", region="CO-ANT", requested_amount="5000000",
                                        address_line="Calle 45 # 12-30", city="Medellín", postal_code="0500"))
    assert "tiene 6 dígitos" in wrong and journey.reload().status == LeadStatus.NEW

    journey.give_identity(birth_date="1990-01-31", region="CO-ANT", requested_amount="5000000",
                          address_line="Calle 45 # 12-30", city="Medellín", postal_code="050021",
                          employment_status="employed", email="ana.perez@example.com")

    assert journey.reload().status == LeadStatus.AWAITING_DECISION
    values = LeadExtraData.objects.get(lead=journey.lead).values
    assert {k: values[k] for k in ("address_line", "city", "postal_code")} == {
        "address_line": "Calle 45 # 12-30", "city": "Medellín", "postal_code": "050021"}


def test_a_minor_is_told_plainly_that_credit_needs_an_adult(journey, shop):
    shop.campaign.lender.adapter = "async_lead"
    shop.campaign.lender.save(update_fields=["adapter"])
    journey.start()
    born = (timezone.localdate() - timedelta(days=17 * 365)).isoformat()

    page = _text(journey.give_identity(birth_date=born, region="CO-DC", requested_amount="1000000",
                                       email="ana.perez@example.com", employment_status="employed"))

    assert "Para pedir un crédito debes ser mayor de edad." in page
    assert journey.reload().status == LeadStatus.NEW


# --- Decision page states --------------------------------------------------------------------


def test_not_eligible_gives_a_safe_sentence_for_the_reason_never_the_lenders_words(journey):
    journey.start()
    journey.give_identity()
    journey.lender_decides(DecisionResult(decision=DecisionKind.REJECTED, reason="INCOME_BELOW_MIN: dti 0.61 > 0.45"))

    page = _text(journey.client.get(journey.url("decision")))

    assert "Con los ingresos que nos indicaste" in page
    assert "dti" not in page and "INCOME_BELOW_MIN" not in page


def test_not_eligible_shows_the_lenders_adverse_action_notice_sanitized(journey):
    from apps.leads.models import DecisionReason

    journey.start()
    journey.give_identity()
    journey.lender_decides(DecisionResult(decision=DecisionKind.REJECTED, reason="policy"))
    DecisionReason.objects.create(
        decision=journey.lead.decisions.get(), category="credit_policy",
        notice_html=('<p>Tienes derecho a pedir <b>una copia</b>.</p><script>alert(1)</script>'
                     "<img src=x onerror=alert(1)>"),
    )

    page = _text(journey.client.get(journey.url("decision")))

    assert "<b>una copia</b>" in page
    assert "alert(1)" not in page and "onerror" not in page


def test_pending_decision_gives_the_private_status_link(journey):
    journey.start()
    journey.give_identity()
    journey.lender_decides(DecisionResult(decision=DecisionKind.PENDING))

    page = _text(journey.client.get(journey.url("decision")))

    assert f'href="/j/{journey.lead.public_token}/status"' in page
    assert "Seguiremos consultando" in page


def test_technical_failure_says_it_is_not_the_consumers_fault_and_names_the_same_tracking_id(journey):
    journey.start()
    journey.give_identity()
    journey.lender_fails_to_decide()

    page = _text(journey.client.get(journey.url("decision")))

    assert "No es tu culpa" in page and journey.lead.tracking_id in page


@pytest.mark.parametrize("offers", [1, 20])
def test_the_decision_page_runs_a_bounded_number_of_queries_whatever_the_number_of_offers(
    journey, offers, django_assert_max_num_queries
):
    journey.start()
    journey.give_identity()
    journey.lender_decides(approved(*(f"OF-{n:03}" for n in range(offers))))

    with django_assert_max_num_queries(9):
        response = journey.client.get(journey.url("decision"))
    assert _text(response).count('name="offer"') == offers


# --- The private status page -----------------------------------------------------------------


def _postback_applied(lead: Lead, status: str, amount=None) -> None:
    """What the postback endpoint stores for an applied event (apps.postbacks), then the move."""
    from apps.postbacks.models import PostbackEvent

    now = timezone.now()
    PostbackEvent.objects.create(
        lender=lead.lender, lead=lead, click_id=lead.tracking_id, status=status, occurred_at=now,
        amount=amount, currency="COP" if amount else "", reason="internal score 512", effect="applied", raw_body=b"{}",
    )
    lender_postback_applied(lead, status, now)


def test_the_status_link_opens_in_any_browser_and_shows_what_the_lender_reported_without_personal_data(journey):
    journey.to_submitted()
    journey.client.get(journey.url("handoff"))
    _postback_applied(journey.lead, "approved")
    _postback_applied(journey.lead, "disbursed", amount=5_000_000)

    response = Client().get(journey.url("status"))  # another phone, no session

    page = _text(response)
    assert response.status_code == 200
    assert "Banco Aliado" in page and "Aprobado" in page and "Desembolsado" in page and "$5.000.000" in page
    assert "La entidad desembolsó tu crédito." in page
    assert "internal score" not in page  # the lender's own words are for staff
    for value in PERSONAL_VALUES:
        assert value not in page
    assert "Continuar mi solicitud" not in page  # only the browser that started it may continue
    assert response["Cache-Control"].startswith("max-age=0")


def test_an_unknown_status_link_is_a_plain_not_found(client, shop):
    assert client.get("/j/not-a-token/status").status_code == 404


@pytest.mark.parametrize("events", [1, 12])
def test_the_status_page_runs_a_bounded_number_of_queries_whatever_the_number_of_events(
    journey, events, django_assert_max_num_queries
):
    journey.to_submitted()
    journey.client.get(journey.url("handoff"))
    for _ in range(events):
        _postback_applied(journey.lead, "approved")

    with django_assert_max_num_queries(4):
        journey.client.get(journey.url("status"))


# --- Deep links ------------------------------------------------------------------------------


def _deep_link(origin, **params) -> str:
    """The legacy plain form: values in clear, signed."""
    from urllib.parse import urlencode

    from apps.origins.services import deep_link_sign

    signed = {**params, "sig": deep_link_sign(secret=origin.deep_link_secret, params=params)}
    return f"/o/{origin.code}/?{urlencode(signed)}"


def _encrypted_deep_link(origin, **prefill) -> str:
    from urllib.parse import urlencode

    from apps.origins.services import deep_link_token_make

    token = deep_link_token_make(secret=origin.deep_link_secret, **prefill)
    return f"/o/{origin.code}/?{urlencode({'prefill': token})}"


def _session_rows_text() -> str:
    """Every stored session, decoded as Django reads it: what sits in django_session."""
    from django.contrib.sessions.models import Session

    return " ".join(str(session.get_decoded()) + session.session_data for session in Session.objects.all())


def _origin_with_secret(shop, **fields):
    shop.origin.deep_link_secret = "origin-secret"
    for name, value in fields.items():
        setattr(shop.origin, name, value)
    shop.origin.save()
    return shop.origin


def test_an_encrypted_deep_link_prefills_the_forms_and_leaves_a_clean_address_at_once(journey, shop):
    origin = _origin_with_secret(shop)
    link = _encrypted_deep_link(origin, reference="MOV-77", name="Ana María Pérez", phone="3001234567")
    assert "Ana" not in link and "3001234567" not in link and "MOV-77" not in link

    response = journey.client.get(link)

    assert (response.status_code, response["Location"]) == (302, "/o/movilco/")
    journey.start()
    assert journey.reload().origin_reference == "MOV-77"
    identity = _text(journey.client.get(journey.url("identity")))
    assert 'value="Ana María Pérez"' in identity
    journey.give_identity()
    journey.lender_decides(approved("OF-001"))
    journey.choose_offer()
    assert 'value="3001234567"' in _text(journey.client.get(journey.url("details")))


def test_the_session_keeps_the_prefill_encrypted(journey, shop):
    origin = _origin_with_secret(shop)
    journey.client.get(_encrypted_deep_link(origin, reference="MOV-77", name="Ana María Pérez", phone="3001234567"))

    stored = _session_rows_text()
    assert "flow_prefill" in stored
    assert "Ana" not in stored and "3001234567" not in stored


def test_a_plain_deep_link_is_refused_while_the_legacy_switch_is_off_and_the_address_is_cleaned(journey, shop, caplog):
    origin = _origin_with_secret(shop)

    with caplog.at_level("INFO", logger="apps.flow.views"):
        response = journey.client.get(_deep_link(origin, ref="MOV-77", name="Ana María Pérez", phone="3001234567"))

    assert (response.status_code, response["Location"]) == (302, "/o/movilco/")
    assert "legacy deep links are off" in caplog.text and "Ana" not in caplog.text
    journey.start()
    assert journey.reload().origin_reference == ""
    assert "Ana María" not in _text(journey.client.get(journey.url("identity")))


def test_a_plain_signed_deep_link_still_prefills_with_the_legacy_switch_on_kept_encrypted(journey, shop, caplog):
    origin = _origin_with_secret(shop, deep_link_legacy_plain=True)

    with caplog.at_level("INFO", logger="apps.flow.views"):
        response = journey.client.get(_deep_link(origin, ref="MOV-77", name="Ana María Pérez", phone="3001234567"))

    assert (response.status_code, response["Location"]) == (302, "/o/movilco/")
    assert "legacy plain form" in caplog.text and "Ana" not in caplog.text
    assert "Ana" not in _session_rows_text()
    journey.start()
    assert journey.reload().origin_reference == "MOV-77"
    assert 'value="Ana María Pérez"' in _text(journey.client.get(journey.url("identity")))


def test_a_badly_signed_deep_link_is_ignored_logged_without_personal_data_and_never_an_error(journey, shop, caplog):
    origin = _origin_with_secret(shop, deep_link_legacy_plain=True)
    link = _deep_link(origin, ref="MOV-77", name="Ana María Pérez", phone="3001234567").replace("MOV-77", "MOV-78")

    with caplog.at_level("INFO", logger="apps.flow.views"):
        response = journey.client.get(link)

    assert (response.status_code, response["Location"]) == (302, "/o/movilco/")
    assert "bad signature" in caplog.text
    assert "Ana" not in caplog.text and "3001234567" not in caplog.text
    journey.start()
    assert journey.reload().origin_reference == ""
    assert "Ana María" not in _text(journey.client.get(journey.url("identity")))


# --- Security: content security policy, rate limits ------------------------------------------


def test_flow_pages_carry_a_strict_content_security_policy_and_no_inline_script_or_style(journey):
    journey.start()
    for url in ("/", "/o/movilco/", journey.url("identity"), "/legal/", journey.url("status")):
        response = journey.client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        page = _text(response)
        assert "<script>" not in page and "<style" not in page and " style=" not in page
        assert page.count("<script") == page.count("<script src=")


def test_with_the_rate_limits_cache_down_consumers_go_on_and_the_outage_is_logged(client, shop, settings, caplog):
    """The limiter's counts live in Redis; a Redis that is down must not turn the flow's forms
    into errors: the limit is not applied (fail open) and a warning says so."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens there
    listing = {"listing_id": shop.listing.listing_id}

    response = client.post("/o/movilco/start", listing)

    assert response.status_code == 303
    assert Lead.objects.count() == 1
    assert any("rate limit" in record.getMessage().lower() and record.levelname == "WARNING"
               for record in caplog.records)


def test_too_many_journey_starts_from_one_address_get_a_friendly_429(client, shop, settings):
    # A private in-memory cache: counts from other tests (Redis is shared) do not leak in.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "ratelimit-test"}}
    settings.FLOW_RATE_LIMITS = {"start": "2/m", "post": "1000/m"}
    listing = {"listing_id": shop.listing.listing_id}

    statuses = [client.post("/o/movilco/start", listing).status_code for _ in range(3)]

    assert statuses == [303, 303, 429]
    refused = client.post("/o/movilco/start", listing)
    assert "Espera un minuto" in _text(refused)
    assert Lead.objects.count() == 1  # the same browser re-points its one journey
