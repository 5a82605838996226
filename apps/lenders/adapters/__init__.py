"""The adapter registry: one line per lender API style.

`ADAPTERS` maps the key stored in `Lender.adapter` to the dotted path of the style's adapter
class. Everything else about a style is read from that class: its label (the choices of
`Lender.adapter`, through `adapter_choices`), its capability flags, the credentials it reads, its
own configuration model, and the sandbox module that plays its lender (for the demo and the
contract tests). Paths rather than classes keep apps.lenders.models importable without loading
any adapter module: the model's choices are this module's `adapter_choices`, a callable Django
calls only when a form, the admin or a system check needs them.

To add a style: write its module beside this one, its sandbox in apps/sandbox/, and add its
line here (README.md, in this folder).
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from apps.lenders.adapters.base import AdapterConfigurationError, LenderAdapter

ADAPTERS: dict[str, str] = {
    "embedded": "apps.lenders.adapters.embedded.EmbeddedFlowAdapter",
    "async_lead": "apps.lenders.adapters.async_lead.AsyncLeadAdapter",
    "offers_api": "apps.lenders.adapters.offers_api.OffersApiAdapter",
    "mapped_json": "apps.lenders.adapters.mapped.MappedJsonAdapter",
}


def adapter_class(key: str) -> type[LenderAdapter]:
    try:
        path = ADAPTERS[key]
    except KeyError as exc:
        raise AdapterConfigurationError(f"No adapter is registered as {key!r}.") from exc
    return import_string(path)


def adapter_classes() -> dict[str, type[LenderAdapter]]:
    """Every registered style's adapter class, by key, in the registry's order."""
    return {key: adapter_class(key) for key in ADAPTERS}


def adapter_choices() -> list[tuple[str, str]]:
    """Lender.adapter's choices: each registered style with its class's label."""
    return [(key, cls.label) for key, cls in adapter_classes().items()]
