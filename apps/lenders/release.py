"""Per-lender field release: which consumer fields leave for each lender.

Identity and income (RELEASED_ALWAYS) are what capability 1 is (DESIGN.md §4: "identity + income
in"), so every lender receives them. Every other journey field (JOURNEY_FIELDS: email, phone,
birth date, address...) leaves for a lender only when its adapter declares it
(`LenderAdapter.declared_fields`) and staff approved it for that lender (`Lender.released_fields`,
set in admin, where the policy is shown per lender). A field approved but no longer declared is
not sent either; a field declared but not approved is neither asked of the consumer nor sent.
The requests built for adapters (apps/leads/engine/requests.py) pass through `consumer_release`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import JOURNEY_FIELDS, AdapterConfigurationError, Consumer
from apps.lenders.models import Lender

RELEASED_ALWAYS = ("document_type", "document_number", "full_name", "monthly_income", "currency")
# Journey fields that are Consumer attributes; the others travel in Consumer.extra (or, for
# requested_amount, on the request itself).
CONSUMER_ATTRIBUTES = ("email", "phone", "birth_date", "region")


def lender_declared_fields(lender: Lender) -> tuple[str, ...]:
    try:
        cls = adapter_class(lender.adapter)
    except AdapterConfigurationError:
        return ()
    return tuple(name for name in cls.declared_fields(lender.adapter_options()) if name in JOURNEY_FIELDS)


def lender_released_fields(lender: Lender) -> frozenset[str]:
    """Declared and approved: the journey fields this lender may receive."""
    approved = set(lender.released_fields or ())
    return frozenset(name for name in lender_declared_fields(lender) if name in approved)


@dataclass(frozen=True)
class FieldPolicy:
    name: str
    label: str
    declared: bool
    approved: bool

    @property
    def released(self) -> bool:
        return self.declared and self.approved


def lender_field_policy(lender: Lender) -> list[FieldPolicy]:
    """Every journey field with whether this lender's adapter declares it and staff approved it."""
    declared, approved = set(lender_declared_fields(lender)), set(lender.released_fields or ())
    return [FieldPolicy(name=name, label=str(label), declared=name in declared, approved=name in approved)
            for name, label in JOURNEY_FIELDS.items()]


def consumer_release(consumer: Consumer, released: Collection[str]) -> Consumer:
    """The consumer as one lender may see it: identity and income, and the released fields only."""
    blanked = {name: "" for name in CONSUMER_ATTRIBUTES if name not in released}
    extra = {name: value for name, value in consumer.extra.items() if name in released}
    return dataclasses.replace(consumer, extra=extra, **blanked)
