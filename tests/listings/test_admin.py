"""The listing page's representative example and the "why not shown" explainer."""

import pytest
from django.urls import reverse

from tests.factories import OriginFactory, shelf_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-for-tests-only"))
    return client


def test_the_explainer_page_names_the_first_rule_that_hides_a_listing_from_an_origin(staff_client):
    shelf = shelf_with(is_active=False)
    url = reverse("admin:campaigns_listing_why_not_shown", args=[shelf.listing.pk])

    hidden = staff_client.get(url, {"origin": shelf.origin.pk}).content.decode()
    shown = staff_client.get(reverse("admin:campaigns_listing_why_not_shown", args=[shelf.fallback_listing.pk]),
                             {"origin": shelf.origin.pk}).content.decode()
    elsewhere = staff_client.get(url, {"origin": OriginFactory().pk}).content.decode()

    assert "Not shown" in hidden and "The campaign is paused." in hidden
    assert "<strong>Shown</strong>" in shown
    assert "origin_not_targeted" in elsewhere


def test_the_listing_page_shows_its_representative_example(staff_client):
    shelf = shelf_with()

    page = staff_client.get(reverse("admin:listings_listing_change", args=[shelf.listing.pk])).content.decode()

    assert "a month" in page and "to repay in all" in page


def test_staff_write_a_listings_texts_in_spanish_and_english_and_the_spanish_is_required(staff_client):
    from django.utils import translation

    from apps.listings.models import Listing

    listing = shelf_with().listing
    url = reverse("admin:listings_listing_change", args=[listing.pk])
    page = staff_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for name in ("title", "tagline", "highlights", "call_to_action"):
        assert f'name="{name}_es_co"' in page and f'name="{name}_en"' in page
        assert f'name="{name}"' not in page
    form = {"product": listing.product_id, "title_es_co": "Crédito ágil", "title_en": "Quick loan",
            "tagline_es_co": "Respuesta en segundos", "tagline_en": "An answer in seconds",
            "highlights_es_co": "Sin codeudor", "highlights_en": "No co-signer", "call_to_action_es_co": "",
            "call_to_action_en": "", "is_active": "on"}

    refused = staff_client.post(url, {**form, "title_es_co": ""}, HTTP_ACCEPT_LANGUAGE="en")
    saved = staff_client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")  # admin in English: each column as typed

    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert saved.status_code == 302
    listing = Listing.objects.get(pk=listing.pk)
    assert (listing.title_es_co, listing.title_en, listing.highlights_en) == ("Crédito ágil", "Quick loan", "No co-signer")
    with translation.override("en"):
        assert Listing.objects.get(pk=listing.pk).title == "Quick loan"
    Listing.objects.filter(pk=listing.pk).update(title_en="")
    with translation.override("en"):
        assert Listing.objects.get(pk=listing.pk).title == "Crédito ágil"  # an empty English reads the Spanish
