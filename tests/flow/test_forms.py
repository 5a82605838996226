"""The flow's forms: formats checked, what people naturally type accepted and normalised."""

import pytest
from django.utils import translation

from apps.flow.forms import DetailsForm, IdentityForm
from apps.legal.models import ConsentText

VALID_IDENTITY = {"document_type": "CC", "document_number": "1020304050", "full_name": "Ana Pérez",
                  "monthly_income": "3500000", "accept_terms": "on", "accept_privacy": "on",
                  "accept_data_processing": "on"}


def _identity(**changes) -> IdentityForm:
    # The page shows a published consent text; its id travels with the form (no database here).
    form = IdentityForm({**VALID_IDENTITY, "consent_text": "1", **changes}, consent_text=ConsentText(pk=1))
    form.is_valid()
    return form


@pytest.mark.parametrize(("document_type", "typed", "stored"), [
    ("CC", "1.020.304.050", "1020304050"),
    ("CC", "123456", "123456"),
    ("CE", "ab-12 34 56", "AB123456"),
    ("PA", "x1234", "X1234"),
    ("PA", "AB1234567890123", "AB1234567890123"),
])
def test_document_numbers_accept_separators_and_are_stored_bare(document_type, typed, stored):
    form = _identity(document_type=document_type, document_number=typed)

    assert form.errors == {}
    assert form.identity().document_number == stored


@pytest.mark.parametrize(("document_type", "typed"), [
    ("CC", "12345"), ("CC", "12345678901"), ("CC", "12345A"),
    ("CE", "12345"), ("CE", "ABCDEF12345"), ("CE", "AB_123456"),
    ("PA", "1234"), ("PA", "A" * 16),
    ("TI", "1020304050"),
])
def test_document_numbers_out_of_format_are_refused(document_type, typed):
    form = _identity(document_type=document_type, document_number=typed)

    assert set(form.errors) & {"document_number", "document_type"}


@pytest.mark.parametrize(("typed", "income"), [
    ("3500000", 3_500_000), ("3.500.000", 3_500_000), ("3,500,000", 3_500_000), ("$ 3.500.000", 3_500_000),
    ("3 500 000", 3_500_000), ("1", 1),
])
def test_income_accepts_whole_pesos_grouped_or_not(typed, income):
    assert _identity(monthly_income=typed).cleaned_data["monthly_income"] == income


@pytest.mark.parametrize("typed", ["0", "-5", "3.5", "3500000,50", "tres millones", "", "35.00.000", "99999999999"])
def test_income_that_is_not_a_positive_whole_peso_amount_is_refused(typed):
    assert "monthly_income" in _identity(monthly_income=typed).errors


@pytest.mark.parametrize("typed", ["Ana", "José Ángel O'Neill-Núñez", "María  del   Carmen"])
def test_names_with_accents_apostrophes_and_hyphens_are_accepted(typed):
    assert _identity(full_name=typed).errors == {}


@pytest.mark.parametrize("typed", ["Ana 2", "<b>", "a_b", "  ", "Jo"])
def test_names_with_digits_or_symbols_are_refused(typed):
    assert "full_name" in _identity(full_name=typed).errors


@pytest.mark.parametrize("typed", ["3001234567", "+573001234567", "+57 300 123 4567", "300-123-4567", "(300) 123 4567"])
def test_colombian_mobiles_are_stored_with_the_country_code(typed):
    form = DetailsForm({"email": "ana@example.com", "phone": typed})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["phone"] == "+573001234567"


@pytest.mark.parametrize("typed", ["2001234567", "300123456", "30012345678", "+583001234567", "6011234567", "abc"])
def test_numbers_that_are_not_colombian_mobiles_are_refused(typed):
    assert "phone" in DetailsForm({"email": "ana@example.com", "phone": typed}).errors


def test_an_empty_identity_field_says_what_to_write_in_the_consumers_language():
    form = _identity(document_number="", full_name="", monthly_income="")
    assert form.errors["document_number"] == ["Escribe el número de tu documento."]
    assert form.errors["full_name"] == ["Escribe tu nombre completo, como aparece en tu documento."]
    assert form.errors["monthly_income"] == ["Escribe cuánto ganas al mes, en pesos."]
    with translation.override("en"):
        assert _identity(document_number="").errors["document_number"] == ["Enter your document number."]
