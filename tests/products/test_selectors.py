from decimal import Decimal

import pytest

from apps.products.models import Product, ProductKind
from apps.products.selectors import (
    annuity_installment,
    monthly_rate_from_annual,
    product_example_defaults,
    product_kind_choices,
    product_representative_example,
)
from tests.factories import ProductFactory


def test_the_monthly_rate_compounds_to_the_effective_annual_rate():
    monthly = monthly_rate_from_annual(Decimal("0.2682417945625453"))

    assert monthly.quantize(Decimal("0.0000001")) == Decimal("0.0200000")


def test_the_annuity_installment_follows_the_standard_formula():
    assert annuity_installment(amount=Decimal("10000000"), monthly_rate=Decimal("0.02"), term_months=36) == Decimal(
        "392328.53"
    )
    without_interest = annuity_installment(amount=Decimal("1200000"), monthly_rate=Decimal(0), term_months=12)
    assert without_interest == Decimal("100000.00")


def test_without_a_listing_example_the_middle_of_the_ranges_is_used_in_round_money():
    product = ProductFactory.build(min_amount=Decimal("1000000"), max_amount=Decimal("30000000"), min_term_months=12,
                                   max_term_months=60)

    assert product_example_defaults(product) == (Decimal("15000000"), 36)


def test_the_example_is_priced_at_the_highest_rate_with_every_fee():
    product = ProductFactory.build(min_annual_rate=Decimal("0"), max_annual_rate=Decimal("0"),
                                   opening_fee=Decimal("20000"), monthly_fee=Decimal("1000"))

    example = product_representative_example(product, amount=Decimal("1200000"), term_months=12)

    assert (example.installment, example.monthly_payment) == (Decimal("100000.00"), Decimal("101000.00"))
    assert (example.upfront_fees, example.total_to_repay, example.total_cost) == (
        Decimal("20000.00"), Decimal("1232000.00"), Decimal("32000.00"))


@pytest.mark.django_db
def test_kinds_are_the_built_in_ones_and_those_staff_add():
    ProductKind.objects.create(code="vehicle", name="Vehicle loan")

    codes = {code for code, _ in product_kind_choices()}

    assert {"personal", "payroll", "micro", "vehicle"} <= codes
    assert set(Product.Kind.values) <= codes
