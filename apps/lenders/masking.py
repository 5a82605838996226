"""Masking personal data out of stored lender exchanges (LenderCall bodies, errors, URLs).

Two nets, because either alone leaks:
- by key: in a JSON body, the value of every key that looks personal (`documentNumber`,
  `fullName`, `email`, `phone`...) is masked, whatever the lender's spelling
  (`document_number`, `nombreCompleto`...), at any depth;
- by value: every personal value of the Consumer we sent is masked wherever it appears, under
  any key or inside free text (a lender that echoes the name in an error message), in its plain,
  JSON-escaped and URL-encoded spellings, ignoring case. Amounts (the monthly income, and the
  yearly income some styles send) are masked as whole numbers only, with or without thousands
  separators, never inside a longer number: an income of 3000000 must not garble an offer of
  30000000. That is what catches income under any key a staff-mapped API gives it.

Masking runs before truncation, so a cut can never leave the unmasked half of a value behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "•"
KEEP_LAST = 2
# Value-based masking skips shorter values: masking every "al" of a two-letter name would garble
# the body (annualRate) while the by-key net already covers the field that holds it.
MIN_VALUE_LENGTH = 4
TRUNCATION_MARK = "…[truncated {count} characters]"

# Lowercase fragments of JSON keys that hold personal data, compared on the key with `_`, `-`
# and spaces removed. Keys naming a *kind* (documentType) are not personal and stay readable.
PERSONAL_KEY_FRAGMENTS = (
    "documentnumber", "docnumber", "document", "idnumber", "nationalid", "cedula", "passport", "taxid",
    "ssn", "fullname", "firstname", "lastname", "middlename", "surname", "name", "nombre", "apellido",
    "email", "mail", "correo", "phone", "mobile", "cellphone", "celular", "telefono", "address",
    "direccion", "birth", "dob", "nacimiento", "street", "zip", "postal", "ssn", "account", "routing",
    "income", "ingreso", "salary", "salario", "sueldo", "earnings", "wage",
)
NOT_PERSONAL_SUFFIXES = ("type", "kind", "tipo")


class Amount(str):
    """A personal value that is a whole number (an income): masked by value only where it stands
    as a number of its own, in its plain and thousands-separated spellings."""


def mask_value(value: str) -> str:
    """'1234567890' -> '••••••••90'; values of four characters or fewer are masked whole."""
    if len(value) <= KEEP_LAST * 2:
        return MASK * len(value)
    return MASK * (len(value) - KEEP_LAST) + value[-KEEP_LAST:]


@lru_cache(maxsize=4096)
def is_personal_key(key: str) -> bool:
    # Cached: the same few dozen keys come back in every body of every call.
    normalized = re.sub(r"[\s_\-]", "", key).lower()
    if normalized.endswith(NOT_PERSONAL_SUFFIXES):
        return False
    return any(fragment in normalized for fragment in PERSONAL_KEY_FRAGMENTS)


def mask_json(data: Any) -> Any:
    """A copy of `data` with the value under every personal-looking key masked."""
    if isinstance(data, dict):
        return {key: _mask_leaf(value) if is_personal_key(str(key)) else mask_json(value) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_json(item) for item in data]
    return data


def _mask_leaf(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        # A personal key holding a structure (an address object): mask every leaf under it.
        items = value.items() if isinstance(value, dict) else enumerate(value)
        masked = {k: _mask_leaf(v) for k, v in items}
        return masked if isinstance(value, dict) else list(masked.values())
    return mask_value(str(value))


def mask_text(text: str, personal_values: Iterable[str] = ()) -> str:
    """Mask a stored body: by key when it is JSON, then by value in whatever text remains."""
    if not text:
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        masked = text
    else:
        if isinstance(parsed, (dict, list)):
            masked = json.dumps(mask_json(parsed), ensure_ascii=False, separators=(",", ":"))
        else:
            masked = text
    return mask_values(masked, personal_values)


def mask_values(text: str, personal_values: Iterable[str]) -> str:
    """Every spelling of every personal value in `text`, masked (longest values first)."""
    values = {v for v in personal_values if v and len(v.strip()) >= MIN_VALUE_LENGTH}
    for value in sorted(values, key=len, reverse=True):
        if isinstance(value, Amount):
            text = _amount_pattern(value).sub(lambda match: mask_value(match.group(0)), text)
            continue
        for spelling in _spellings(value):
            text = re.sub(re.escape(spelling), lambda match: mask_value(match.group(0)), text, flags=re.IGNORECASE)
    return text


@lru_cache(maxsize=256)
def _amount_pattern(value: str) -> re.Pattern[str]:
    """2500000, 2,500,000, 2.500.000 or 2 500 000, not preceded or followed by a digit (nor by
    a separator and a digit: 12,500,000 holds 500,000 but is not it)."""
    digits = value.strip()
    groups = [digits[max(0, end - 3):end] for end in range(len(digits), 0, -3)][::-1]
    spellings = [re.escape(digits)] + [re.escape(separator.join(groups)) for separator in (",", ".", " ", "\u00a0")
                                       if len(groups) > 1]
    return re.compile(rf"(?<![\d])(?<![\d][.,])(?:{'|'.join(spellings)})(?![\d])(?![.,]\d{{3}})")


def _spellings(value: str) -> set[str]:
    escaped = json.dumps(value)[1:-1]  # how an ensure_ascii JSON encoder writes it: "Jos\\u00e9"
    return {value, escaped, quote(value, safe=""), quote_plus(value)} - {""}


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    mark = TRUNCATION_MARK.format(count=len(text) - limit)
    return text[:limit] + mark


def mask_and_truncate(text: str, personal_values: Iterable[str], limit: int) -> str:
    return truncate(mask_text(text, personal_values), limit)
