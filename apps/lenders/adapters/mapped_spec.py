"""The description language of a mapped JSON lender (MappedApi): its placeholders, dotted paths
and value lists, how a description is checked, and how templates and paths are applied.

Templates: JSON in which a string that is exactly `{{name}}` becomes the value with its type (a
number stays a number; a missing value becomes null), and `{{name}}` inside a longer string is
replaced by its text. The names are PLACEHOLDERS below. Response paths are dotted
(`data.estado`, `ofertas.0.id`). The adapter that speaks it is mapped.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from apps.lenders.adapters.base import RejectionCategory
from apps.lenders.adapters.parsing import Unparseable

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")
PLACEHOLDERS = (
    "tracking_id", "product_id", "listing_id", "requested_amount", "currency", "lender_reference",
    "consumer.document_type", "consumer.document_number", "consumer.full_name", "consumer.first_name",
    "consumer.last_name", "consumer.monthly_income", "consumer.annual_income", "consumer.email", "consumer.phone",
    "consumer.birth_date", "consumer.region", "consumer.employment_status", "consumer.address_line", "consumer.city",
    "consumer.postal_code",
    "offer.id", "offer.amount", "offer.term_months", "offer.monthly_payment", "offer.annual_rate",
)
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
PATH_FIELDS = (
    "tracking_id_path", "decision_path", "reason_code_path", "reason_text_path", "reference_path", "offers_path",
    "offer_id_path", "offer_amount_path", "offer_term_path", "offer_payment_path", "offer_rate_path", "offer_url_path",
    "errors_path", "error_field_path", "error_message_path", "submit_status_path", "submit_redirect_path",
)
MISSING = object()


def mapped_spec_errors(options: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every mistake in a mapped API description, by field (empty when it is usable)."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name in ("prequalify_template", "submit_template"):
        source = options.get(name) or ""
        if name == "submit_template" and not source:
            continue
        try:
            json.loads(source)
        except ValueError as exc:
            add(name, f"Not valid JSON: {exc}.")
            continue
        for placeholder in PLACEHOLDER.findall(source):
            if placeholder not in PLACEHOLDERS:
                add(name, f"Unknown placeholder {{{{{placeholder}}}}}.")
    for name in ("prequalify_path", "poll_path", "submit_path"):
        for placeholder in PLACEHOLDER.findall(options.get(name) or ""):
            if placeholder not in ("tracking_id", "lender_reference"):
                add(name, f"Only {{{{tracking_id}}}} and {{{{lender_reference}}}} can go in a path, not {placeholder}.")
    for name in PATH_FIELDS:
        value = options.get(name) or ""
        if value and not PATH.match(value):
            add(name, "A dotted path of keys and list positions, such as data.offers.0.id.")
    for name in ("prequalify_path", "decision_path", "approved_values", "rejected_values"):
        if not (options.get(name) or "").strip():
            add(name, "Required.")
    values = {name: listed_values(options.get(name)) for name in ("approved_values", "rejected_values", "pending_values")}
    seen: dict[str, str] = {}
    for name, listed in values.items():
        for value in listed:
            if value in seen:
                add(name, f"{value!r} is also listed in {seen[value]}.")
            seen[value] = name
    if options.get("pending_values") and not options.get("poll_path"):
        add("poll_path", "A lender that answers pending needs a poll path.")
    if options.get("submit_path") and not (options.get("submit_template") and options.get("submit_redirect_path")):
        add("submit_path", "A submission call needs a template and the path of the redirect URL in its answer.")
    if options.get("offers_path") and not all(options.get(n) for n in (
        "offer_id_path", "offer_amount_path", "offer_term_path", "offer_payment_path", "offer_rate_path")):
        add("offers_path", "Offers need the paths of their id, amount, term, monthly payment and rate.")
    for line in (options.get("reason_categories") or "").splitlines():
        if line.strip() and not category_line(line):
            add("reason_categories", f"{line.strip()!r}: write CODE = one of {', '.join(RejectionCategory)}.")
    return errors


def listed_values(listed: Any) -> list[str]:
    return [value.strip().lower() for value in str(listed or "").split(",") if value.strip()]


def category_line(line: str) -> tuple[str, str] | None:
    code, _, category = line.partition("=")
    if not code.strip() or category.strip() not in RejectionCategory.__members__.values():
        return None
    return code.strip(), category.strip()


def resolve(data: Any, path: str, default: Any = MISSING) -> Any:
    """The value at a dotted path; `default` (or Unparseable) when a step is missing."""
    current = data
    for step in path.split("."):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        elif default is not MISSING:
            return default
        else:
            raise Unparseable(f"nothing at {path}")
    return current


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """A parsed JSON template with its placeholders filled (see the module docstring)."""
    if isinstance(template, dict):
        return {key: render(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            value = values.get(whole.group(1))
            return None if value in (None, "") else value
        return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1)) or ""), template)
    return template
