"""The legal page: Colombia's habeas data regime in full, naming the data controller staff set in
admin (apps.legal), in Spanish and in English."""

import pytest
from django.contrib.admin.sites import site
from django.db import IntegrityError
from django.test import RequestFactory

from apps.legal.models import DataController

pytestmark = pytest.mark.django_db

CONTROLLER = {"legal_name": "Prosperas S.A.S.", "tax_id": "901234567-8", "address": "Carrera 7 # 71-21, Bogotá D.C.",
              "email": "habeasdata@prosperas.co", "phone": "+57 601 745 0000"}


def _page(client, language: str) -> str:
    response = client.get("/legal/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_the_legal_page_names_the_controller_staff_set_and_how_to_reach_it(client):
    DataController.objects.create(**CONTROLLER)

    page = _page(client, "es-co")

    for value in ("Prosperas S.A.S.", "901234567-8", "Carrera 7 # 71-21, Bogotá D.C.", "+57 601 745 0000"):
        assert value in page
    assert page.count('href="mailto:habeasdata@prosperas.co"') == 2  # the contact, and how to claim
    assert "example.com" not in page and ".example" not in page


def test_the_legal_page_sets_out_the_rights_the_timelines_and_the_authority_in_spanish(client):
    DataController.objects.create(**CONTROLLER)

    page = _page(client, "es-co")

    for right in ("Conocer, actualizar y rectificar", "Pedir prueba de la autorización", "Revocar la autorización",
                  "pedir que suprimamos", "Superintendencia de Industria y Comercio (SIC)"):
        assert right in page
    assert "10 días hábiles" in page and "5 días hábiles más" in page  # queries (Ley 1581, art. 14)
    assert "15 días hábiles" in page and "8 días hábiles más" in page  # claims (art. 15)
    assert "Ley 1581 de 2012" in page and "Decreto 1377 de 2013" in page
    assert "comparación de ofertas" in page  # compare mode's sharing is named, not only "the lender you chose"


def test_the_legal_page_reads_in_english_with_the_same_contact(client):
    DataController.objects.create(**CONTROLLER)

    page = _page(client, "en")

    assert '<html lang="en">' in page
    for text in ("Know, update and correct your personal data", "Superintendencia de Industria y Comercio (SIC)",
                 "within 10 business days", "within 15 business days", "Prosperas S.A.S.",
                 'href="mailto:habeasdata@prosperas.co"'):
        assert text in page


def test_without_a_controller_the_page_still_names_prosperas_and_no_made_up_address(client):
    page = _page(client, "es-co")

    assert "Prosperas es el responsable del tratamiento" in page
    assert "mailto:" not in page


def test_there_is_one_data_controller_edited_in_place_in_admin(admin_user):
    DataController.objects.create(**CONTROLLER)
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = site._registry[DataController]

    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_delete_permission(request, DataController.objects.get()) is False
    with pytest.raises(IntegrityError):
        DataController.objects.create(id=2, **CONTROLLER)
