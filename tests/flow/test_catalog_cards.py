"""The catalog's cards are kept rendered (CATALOG_CARD_SECONDS, the "fragments" cache): by their
listing's and product's last change and the language, so staff's edits show at once."""

import pytest

from apps.listings.models import Listing
from apps.products.models import Product

pytestmark = pytest.mark.django_db


def _catalog(client, language: str = "es-co") -> str:
    return client.get("/o/movilco/", HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_a_card_is_kept_rendered_and_an_edit_saved_by_staff_shows_at_once(client, shop):
    assert "Préstamo Libre Inversión" in _catalog(client)

    # A change that bypasses save() leaves the listing's last change as it was: the kept card shows.
    Listing.objects.filter(pk=shop.listing.pk).update(title_es_co="Título cambiado sin guardar")
    assert "Préstamo Libre Inversión" in _catalog(client)

    listing = Listing.objects.get(pk=shop.listing.pk)
    listing.title = "Préstamo Nuevo"
    listing.save()  # as admin saves it
    page = _catalog(client)
    assert "Préstamo Nuevo" in page and "Préstamo Libre Inversión" not in page


def test_a_product_saved_with_new_rates_shows_them_at_once(client, shop):
    before = _catalog(client)
    product = Product.objects.get(pk=shop.listing.product_id)
    product.max_amount = 99_000_000
    product.save()
    after = _catalog(client)
    assert after != before and "99.000.000" in after


def test_each_language_has_its_own_card(client, shop):
    spanish, english = _catalog(client, "es-co"), _catalog(client, "en")
    assert "Solicitar" in spanish and "meses" in spanish
    assert "Apply" in english and "months" in english and "Solicitar" not in english
