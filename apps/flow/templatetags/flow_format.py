"""Money and rates as a Colombian reads them: "$ 3.500.000", "28,5 %".

Separators come from the active language's format module (es-co: "." for thousands, "," for
decimals), so the same templates read naturally when English is switched on.
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import formats
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

register = template.Library()


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        return None


@register.filter
def money(value, currency: str = "COP") -> str:
    """Whole units with thousands grouped; the peso sign for COP, else the ISO code."""
    amount = _decimal(value)
    if amount is None:
        return ""
    text = formats.number_format(amount.quantize(Decimal(1)), 0, use_l10n=True, force_grouping=True)
    if currency != "COP":
        return f"{text} {currency}"
    # Colombians read "$"; in English "$" reads as dollars, so the code goes first.
    return f"${text}" if (get_language() or "es").startswith("es") else f"COP {text}"


@register.filter
def percent(value) -> str:
    """0.285 → "28,5 %"; at most two decimals, none when the rate is whole."""
    rate = _decimal(value)
    if rate is None:
        return ""
    hundredths = (rate * 100).quantize(Decimal("0.01")).normalize()
    places = max(0, -hundredths.as_tuple().exponent)
    return f"{formats.number_format(hundredths, places, use_l10n=True)} %"


# A catalog card's facts: "$1.000.000 a $20.000.000", "6 a 36 meses", "18 % a 28,5 % E.A.". Tags
# rather than {% blocktranslate %} in the card: the same words, a third of the rendering time of
# a catalog of twenty cards.


@register.simple_tag
def amount_range(product) -> str:
    return _("%(low)s a %(high)s") % {
        "low": money(product.min_amount, product.currency), "high": money(product.max_amount, product.currency)}


@register.simple_tag
def term_range(product) -> str:
    return _("%(low)s a %(high)s meses") % {
        "low": formats.localize(product.min_term_months), "high": formats.localize(product.max_term_months)}


@register.simple_tag
def rate_range(product) -> str:
    return _("%(low)s a %(high)s E.A.") % {
        "low": percent(product.min_annual_rate), "high": percent(product.max_annual_rate)}


# The built-in product kinds in the consumer's words; a kind staff added reads as its own name.
KIND_LABELS = {"personal": gettext_lazy("Libre inversión"), "payroll": gettext_lazy("Libranza"),
               "micro": gettext_lazy("Microcrédito")}


@register.simple_tag
def product_kind(product, kind_names: dict | None = None) -> str:
    if product.kind in KIND_LABELS:
        return str(KIND_LABELS[product.kind])
    return (kind_names or {}).get(product.kind, product.kind)


@register.simple_tag
def representative_example(listing) -> str:
    """The listing's example in a sentence: amount and term, monthly payment and total to repay,
    at the product's highest rate (apps.products.selectors.product_representative_example)."""
    example = listing.representative_example
    return _("Ejemplo: %(amount)s a %(term)s meses, cuota de %(payment)s al mes, total a pagar %(total)s "
             "(tasa %(rate)s E.A.).") % {
        "amount": money(example.amount, example.currency), "term": formats.localize(example.term_months),
        "payment": money(example.monthly_payment, example.currency),
        "total": money(example.total_to_repay, example.currency), "rate": percent(example.annual_rate)}


@register.simple_tag
def other_languages() -> list[tuple[str, str]]:
    """The languages to switch to, each named in itself ("English", "Español"), never translated."""
    from django.conf import settings
    from django.utils.translation import get_supported_language_variant

    current = get_supported_language_variant(get_language() or settings.LANGUAGE_CODE)
    return [(code, name) for code, name in settings.LANGUAGES if code != current]
