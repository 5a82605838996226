"""The adapter registry: one entry per lender API style. It also feeds Lender.adapter's choices.

To add a style, write a module beside this one and add its class here (see README.md here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.lenders.adapters.base import LenderAdapter

# key -> (dotted path, label). Dotted paths keep the model importable without loading adapters.
ADAPTERS: dict[str, tuple[str, str]] = {
    "embedded": ("apps.lenders.adapters.embedded.EmbeddedFlowAdapter", "Embedded flow (trackingId, decision, offers)"),
    "offers_api": (
        "apps.lenders.adapters.offers_api.OffersApiAdapter",
        "Synchronous offers API (OAuth2 bearer, nested borrower, offer URLs)",
    ),
    "async_lead": (
        "apps.lenders.adapters.async_lead.AsyncLeadAdapter",
        "Asynchronous lead API (OAuth2, 201 + callback, polling fallback)",
    ),
    "mapped_json": ("apps.lenders.adapters.mapped.MappedJsonAdapter", "Mapped JSON API (described in admin, no code)"),
}


def adapter_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (_, label) in ADAPTERS.items()]


def adapter_class(key: str) -> type[LenderAdapter]:
    from django.utils.module_loading import import_string

    from apps.lenders.adapters.base import AdapterConfigurationError

    try:
        path, _ = ADAPTERS[key]
    except KeyError as exc:
        raise AdapterConfigurationError(f"No adapter is registered as {key!r}.") from exc
    return import_string(path)
