"""Money and rates as a Colombian reads them: "$ 3.500.000", "28,5 %".

Separators come from the active language's format module (es-co: "." for thousands, "," for
decimals), so the same templates read naturally when English is switched on.
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import formats

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
    return f"${text}" if currency == "COP" else f"{text} {currency}"


@register.filter
def percent(value) -> str:
    """0.285 → "28,5 %"; at most two decimals, none when the rate is whole."""
    rate = _decimal(value)
    if rate is None:
        return ""
    hundredths = (rate * 100).quantize(Decimal("0.01")).normalize()
    places = max(0, -hundredths.as_tuple().exponent)
    return f"{formats.number_format(hundredths, places, use_l10n=True)} %"
