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
