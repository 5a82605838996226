"""Reading lenders' answers strictly: the helpers every adapter shares.

A value we cannot read is `Unparseable`, which an adapter turns into a TechnicalFailure: we
would rather retry than store an answer we do not understand. Money becomes Decimal through
its text, never through a float's binary value, and is quantized to the columns it is stored in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import nh3

from prosperas.inbound import bounds

CENT = Decimal("0.01")
RATE_STEP = Decimal("0.0001")
# The inbound window's bounds (prosperas.inbound.bounds): the same for a lender's answers and
# callbacks as for everything else that comes from outside. Offer.amount is numeric(14, 2).
MAX_AMOUNT = bounds.MAX_AMOUNT
MAX_ANNUAL_RATE = bounds.MAX_ANNUAL_RATE
MAX_TERM_MONTHS = bounds.MAX_TERM_MONTHS
# Tags an adverse action notice may keep: text structure, links and emphasis; no scripts, styles,
# images or forms. nh3 also drops every attribute not allowed here (on*, style) and unsafe URLs.
NOTICE_TAGS = {"p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "h1", "h2", "h3", "h4", "a", "span", "div",
               "table", "thead", "tbody", "tr", "td", "th", "small"}
NOTICE_ATTRIBUTES = {"a": {"href", "title"}}


class Unparseable(Exception):
    """A lender's answer does not say what it must: the adapter raises a TechnicalFailure."""


def decimal_of(value: Any, what: str) -> Decimal:
    # bool is an int in Python, and true is not an amount.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Unparseable(f"{what} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Unparseable(f"{what} is not a number") from None
    if not number.is_finite():
        raise Unparseable(f"{what} is not a finite number")
    return number


def money(value: Any, what: str, *, upper: Decimal = MAX_AMOUNT, allow_zero: bool = False) -> Decimal:
    number = decimal_of(value, what).quantize(CENT, rounding=ROUND_HALF_UP)
    if not (Decimal(0) <= number if allow_zero else Decimal(0) < number) or number > upper:
        raise Unparseable(f"{what} is out of range")
    return number


def rate(value: Any, what: str) -> Decimal:
    number = decimal_of(value, what).quantize(RATE_STEP, rounding=ROUND_HALF_UP)
    if not Decimal(0) <= number < MAX_ANNUAL_RATE:
        raise Unparseable(f"{what} is out of range")
    return number


def term_months(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TERM_MONTHS:
        raise Unparseable(f"{what} is not a whole number of months")
    return value


def text(value: Any, what: str, *, limit: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or (required and not str(value).strip()):
        raise Unparseable(f"{what} is {'missing' if value is None else 'not text'}")
    return str(value)[:limit]


def absolute_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def sanitized_notice(html: Any) -> str:
    """An adverse action notice made safe to display inside our pages (seed 002: "render HTML
    safely"). Links open outside the flow and carry rel=noopener noreferrer."""
    if not isinstance(html, str) or not html.strip():
        return ""
    return nh3.clean(
        html, tags=NOTICE_TAGS, attributes=NOTICE_ATTRIBUTES, url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer",
    ).strip()
