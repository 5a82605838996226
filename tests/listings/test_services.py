import threading

import pytest
from django.db import close_old_connections, connection

from apps.campaigns.catalog import catalog_for_origin, catalog_views_record
from apps.listings.models import ListingDailyViews
from apps.listings.services import listing_create
from tests.factories import ProductFactory, shelf_with


@pytest.mark.django_db
def test_a_listing_id_is_minted_with_a_prefix_and_no_sequence():
    first = listing_create(product=ProductFactory(), title="Uno")
    second = listing_create(product=ProductFactory(), title="Dos")

    assert first.listing_id.startswith("lst_") and len(first.listing_id) == 14
    assert first.listing_id != second.listing_id


@pytest.mark.django_db
def test_catalog_views_are_one_statement_per_page_whatever_the_number_of_listings(django_assert_num_queries):
    shelf = shelf_with()
    entries = catalog_for_origin(origin=shelf.origin)

    with django_assert_num_queries(1):
        catalog_views_record(origin=shelf.origin, entries=entries)
    with django_assert_num_queries(0):
        catalog_views_record(origin=shelf.origin, entries=[])


@pytest.mark.django_db(transaction=True)
def test_concurrent_catalog_pages_neither_lose_nor_double_a_view():
    shelf = shelf_with()
    entries = catalog_for_origin(origin=shelf.origin)
    barrier = threading.Barrier(8)
    errors = []

    def view_five_times():
        try:
            barrier.wait()
            for _ in range(5):
                catalog_views_record(origin=shelf.origin, entries=entries)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=view_five_times) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()

    assert not errors, errors
    assert sorted(ListingDailyViews.objects.values_list("views", flat=True)) == [40, 40]


@pytest.mark.django_db
def test_a_listing_made_in_code_has_its_texts_in_spanish_whatever_language_is_active():
    from django.utils import translation

    with translation.override("en"):  # a request in English left its language active, say
        listing = listing_create(product=ProductFactory(), title="Uno", title_en="One")

    assert (listing.title_es_co, listing.title_en) == ("Uno", "One")
