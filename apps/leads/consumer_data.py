"""The rules a consumer's data follows, wherever it is typed: the hosted flow's forms
(apps.flow.forms) and the origins' API (apps.origin_api) both check against these.

Values are compared after normalising: documents without spaces, dots or hyphens and upper-cased;
mobile numbers without separators.
"""

import re
import unicodedata

from apps.products.models import DOCUMENT_TYPES
from apps.products.models import REGIONS as PRODUCT_REGIONS
from prosperas.inbound import bounds

# Whole pesos (the inbound window: prosperas.inbound.bounds).
MAX_MONTHLY_INCOME = bounds.MAX_MONTHLY_INCOME
ADULT_AGE = 18

# The documents a person can borrow with in Colombia (CC, CE, passport: products.DOCUMENT_TYPES),
# normalised as above.
DOCUMENT_PATTERNS = {
    "CC": re.compile(r"\d{6,10}"),
    "CE": re.compile(r"[A-Z0-9]{6,10}"),
    "PA": re.compile(r"[A-Z0-9]{5,15}"),
}
assert set(DOCUMENT_PATTERNS) == set(DOCUMENT_TYPES), "a document type without its pattern"

# Letters (any alphabet, with accents) in words joined by spaces, apostrophes, dots or hyphens.
FULL_NAME_PATTERN = re.compile(r"[^\W\d_]+(?:[ '.\-]+[^\W\d_]+)*\.?")
# A Colombian mobile number: 10 digits starting with 3, optionally after +57.
MOBILE_PATTERN = re.compile(r"(?:\+57)?(3\d{9})")

def _unaccented(text: str) -> str:
    """Córdoba sorts as Cordoba (before Cundinamarca), as a Spanish reader expects."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


# ISO 3166-2:CO: the 32 departments and Bogotá D.C. (the products app's list, which lenders'
# product data is checked against), ordered by name for the forms.
REGIONS = sorted(PRODUCT_REGIONS.items(), key=lambda item: _unaccented(item[1]))
REGION_CODES = sorted(PRODUCT_REGIONS)
DOCUMENT_TYPE_CODES = sorted(DOCUMENT_PATTERNS)
POSTAL_CODE_PATTERN = re.compile(r"\d{6}")


def document_number_normalise(number: str) -> str:
    return re.sub(r"[\s.\-]", "", number).upper()


def mobile_normalise(phone: str) -> str | None:
    """+57 and the 10 digits, the form lenders expect; None when it is no Colombian mobile."""
    match = MOBILE_PATTERN.fullmatch(re.sub(r"[\s.\-()]", "", phone))
    return f"+57{match.group(1)}" if match else None


def age_on(born, today) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
