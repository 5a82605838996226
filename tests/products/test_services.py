import pytest
from django.core.exceptions import ValidationError

from apps.products.services import product_create, product_id_mint
from tests.factories import LenderFactory, ProductFactory

FIELDS = dict(name="Libre inversión", currency="COP", min_amount=1_000_000, max_amount=5_000_000,
              min_term_months=6, max_term_months=36, min_annual_rate="0.18", max_annual_rate="0.30")


@pytest.mark.django_db
def test_product_ids_are_minted_per_kind_in_sequence():
    lender = LenderFactory()

    first = product_create(lender=lender, kind="personal", **FIELDS)
    second = product_create(lender=lender, kind="personal", **FIELDS)
    payroll = product_create(lender=lender, kind="payroll", **FIELDS)

    assert (first.product_id, second.product_id, payroll.product_id) == ("ln_personal_01", "ln_personal_02", "ln_payroll_01")


@pytest.mark.django_db
def test_minting_continues_after_the_highest_existing_number():
    ProductFactory(product_id="ln_personal_09")

    assert product_id_mint(kind="personal") == "ln_personal_10"


@pytest.mark.django_db
def test_a_product_whose_ranges_are_inverted_is_refused():
    with pytest.raises(ValidationError) as error:
        product_create(lender=LenderFactory(), kind="personal", **{**FIELDS, "min_amount": 9_000_000})

    assert "max_amount" in error.value.message_dict
