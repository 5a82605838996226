"""Reads of products: the representative example of their terms, their data as the lender API
speaks it, and what a lender's proposed change would change."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from apps.products.models import PRODUCT_DATA_FIELDS, Product, ProductKind, ProductRevision
from prosperas.i18n import in_source_language

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RepresentativeExample:
    """What a loan of `amount` over `term_months` costs at the product's highest rate.

    The highest rate, not the lowest: an example must not promise what most consumers won't get.
    """

    currency: str
    amount: Decimal
    term_months: int
    annual_rate: Decimal  # effective annual (E.A.)
    monthly_rate: Decimal
    installment: Decimal  # the annuity payment: capital and interest
    monthly_payment: Decimal  # the installment plus the product's monthly fee
    upfront_fees: Decimal
    total_to_repay: Decimal  # every monthly payment plus the upfront fees
    total_cost: Decimal  # what the consumer pays beyond the amount borrowed


@functools.lru_cache(maxsize=4096)
def monthly_rate_from_annual(annual_rate: Decimal) -> Decimal:
    """The monthly rate equivalent to an effective annual rate: (1 + E.A.)^(1/12) − 1. Cached:
    a fractional power costs tens of microseconds, and a catalog page asks it for every card of a
    few distinct rates."""
    with localcontext() as context:
        context.prec = 28
        return (Decimal(1) + annual_rate) ** (Decimal(1) / Decimal(12)) - Decimal(1)


def annuity_installment(*, amount: Decimal, monthly_rate: Decimal, term_months: int) -> Decimal:
    """The standard annuity formula: A·r / (1 − (1 + r)^−n); A / n when the rate is zero."""
    with localcontext() as context:
        context.prec = 28
        if monthly_rate == 0:
            payment = amount / term_months
        else:
            payment = amount * monthly_rate / (Decimal(1) - (Decimal(1) + monthly_rate) ** -term_months)
    return payment.quantize(CENT, rounding=ROUND_HALF_UP)


def _round_amount(value: Decimal) -> Decimal:
    """Down to two significant digits (15,730,000 → 15,000,000): an example reads as round money."""
    digits = len(str(int(value)))
    step = Decimal(10) ** max(digits - 2, 0)
    return (value / step).to_integral_value(ROUND_DOWN) * step


def product_example_defaults(product: Product) -> tuple[Decimal, int]:
    """The amount and term an example uses when the listing names none: the middle of each range."""
    middle = _round_amount((product.min_amount + product.max_amount) / 2)
    amount = min(max(middle, product.min_amount), product.max_amount)
    term = round((product.min_term_months + product.max_term_months) / 2)
    return amount, term


def product_representative_example(
    product: Product, *, amount: Decimal | None = None, term_months: int | None = None
) -> RepresentativeExample:
    default_amount, default_term = product_example_defaults(product)
    amount = Decimal(amount) if amount is not None else default_amount
    term = term_months or default_term
    monthly_rate = monthly_rate_from_annual(product.max_annual_rate)
    installment = annuity_installment(amount=amount, monthly_rate=monthly_rate, term_months=term)
    monthly_payment = installment + product.monthly_fee
    upfront = (product.opening_fee + amount * product.opening_fee_percent).quantize(CENT, rounding=ROUND_HALF_UP)
    total = monthly_payment * term + upfront
    return RepresentativeExample(
        currency=product.currency, amount=amount, term_months=term, annual_rate=product.max_annual_rate,
        monthly_rate=monthly_rate.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), installment=installment,
        monthly_payment=monthly_payment, upfront_fees=upfront, total_to_repay=total, total_cost=total - amount,
    )


def product_kind_names(kinds: Iterable[str]) -> dict[str, str]:
    """The names staff gave the kinds among `kinds` that are not built in (one query, none when
    every kind is built in: the flow words those itself)."""
    added = set(kinds) - set(Product.Kind.values)
    if not added:
        return {}
    return dict(ProductKind.objects.filter(code__in=added).values_list("code", "name"))


def product_kind_choices() -> list[tuple[str, str]]:
    """The built-in kinds and every kind staff added, for forms and the API."""
    choices = dict(Product.Kind.choices)
    choices.update(ProductKind.objects.values_list("code", "name"))
    return sorted(choices.items())


# --- A product's data, as the lender API reads and writes it ---------------------------------------

# A lender's product data is in Spanish, the marketplace's language: its texts (the name) are the
# Spanish columns of the translated fields (translation.py), whatever language is active (the
# lender API answers in English, staff may run admin in English). Reads and writes of that data go
# through this, so `product.name` is the Spanish name there.
in_lender_language = in_source_language


def product_data_value(name: str, value):
    """One field's value as JSON: decimals as strings with the field's places (money is never a float)."""
    field = Product._meta.get_field(name)
    if value is None:
        return None
    if hasattr(field, "decimal_places") and field.get_internal_type() == "DecimalField":
        return str(Decimal(value).quantize(Decimal(1).scaleb(-field.decimal_places)))
    return value


@in_lender_language
def product_data(product: Product) -> dict:
    return {name: product_data_value(name, getattr(product, name)) for name in PRODUCT_DATA_FIELDS}


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    current: object
    proposed: object


@in_lender_language
def product_revision_diff(revision: ProductRevision) -> list[FieldChange]:
    """The fields a revision would change. A product never approved has no current data to keep:
    every proposed value is new."""
    product = revision.product
    never_live = product.went_live_at is None and product.state in (Product.State.DRAFT, Product.State.IN_REVIEW)
    current = {} if never_live else product_data(product)
    changes = []
    for name in PRODUCT_DATA_FIELDS:
        proposed = revision.data.get(name)
        before = current.get(name)
        if name not in current or before != proposed:
            label = str(Product._meta.get_field(name).verbose_name)
            changes.append(FieldChange(name=name, label=label, current=before, proposed=proposed))
    return changes


def product_pending_revision(product: Product) -> ProductRevision | None:
    return product.revisions.filter(state=ProductRevision.State.PENDING).first()
