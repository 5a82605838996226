"""The sandbox lender of each API style, found through the adapter registry.

Every adapter class names the sandbox module that plays its lender (`sandbox_module`), and
that module declares `SANDBOX = SandboxStyle(...)`: where it is mounted and its URL patterns,
the credentials it accepts, any setup a lender of the style needs beyond its row, its demo
lender, and what the shared adapter contract tests need to know about it. Nothing in the
sandbox, the demo data or the tests lists the styles: they iterate `sandbox_styles()`, which
follows `apps.lenders.adapters.ADAPTERS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.urls import URLPattern, URLResolver, include, path

from apps.lenders.adapters import ADAPTERS, adapter_class
from apps.lenders.models import Lender
from apps.lenders.release import lender_declared_fields
from apps.sandbox.services import sandbox_settings_for


@dataclass(frozen=True)
class ContractData:
    """What the shared adapter contract tests (tests/lenders/test_adapter_contract.py) need to
    know about a style's sandbox lender.

    `refused_field`: the field the sandbox's error names (and the adapter's PermanentFailure
    carries) when a consumer's document type is "XX" and the birth date is missing.
    `first_answer_pending`: every first decision is `pending` (resolved by a poll or callback).
    """

    refused_field: str
    first_answer_pending: bool = False


def _no_setup(lender: Lender, **options: Any) -> None:
    return None


@dataclass(frozen=True)
class SandboxStyle:
    """One style's sandbox lender, mounted at /sandbox/<path>/<lender code>/.

    `urlpatterns` are relative to that base; their views receive `lender_code`. `credentials()`
    makes a fresh set the sandbox accepts. `setup(lender, **options)` runs once the lender is
    saved (the mapped style stores the description of its API). `demo_lender` is the demo's
    lender of this style (seed_demo): its code, name, product, listing and campaign.
    """

    key: str
    path: str
    urlpatterns: list[URLPattern | URLResolver]
    credentials: Callable[[], dict[str, str]]
    demo_lender: Mapping[str, Any]
    contract: ContractData
    setup: Callable[..., None] = field(default=_no_setup)


@functools.cache
def sandbox_styles() -> dict[str, SandboxStyle]:
    """Every registered style's sandbox, by adapter key, in the registry's order."""
    styles = {}
    for key in ADAPTERS:
        module = adapter_class(key).sandbox_module
        if not module:
            continue
        style: SandboxStyle = import_module(module).SANDBOX
        if style.key != key:
            raise ValueError(f"{module}.SANDBOX is for style {style.key!r}, but the registry pairs it with {key!r}.")
        styles[key] = style
    return styles


def sandbox_style(key: str) -> SandboxStyle:
    return sandbox_styles()[key]


def sandbox_urlpatterns() -> list[URLResolver]:
    """Each style's patterns under <path>/<lender code>/ (apps/sandbox/urls.py)."""
    return [path(f"{style.path}/<str:lender_code>/", include(style.urlpatterns)) for style in sandbox_styles().values()]


def sandbox_base_url(*, style: str, site_url: str, code: str) -> str:
    """The base URL of the sandbox lender `code` of `style` on the site at `site_url`."""
    return f"{site_url.rstrip('/')}/sandbox/{sandbox_style(style).path}/{code}"


def sandbox_lender_prepare(*, lender: Lender, site_url: str, **options: Any) -> None:
    """Point `lender` at the sandbox of its adapter's style on `site_url`, give it the
    credentials that sandbox checks (kept when already set) and whatever else the style needs
    (`options` go to the style's setup). The caller saves nothing else: this saves. A sandbox
    lender is ours: the fields its adapter declares are approved for release to it, unless staff
    already chose which (apps/lenders/release.py)."""
    style = sandbox_style(lender.adapter)
    lender.base_url = sandbox_base_url(style=lender.adapter, site_url=site_url, code=lender.code)
    lender.credentials = {**style.credentials(), **(lender.credentials or {})}
    lender.save()
    style.setup(lender, **options)
    if not lender.released_fields:
        lender.released_fields = list(lender_declared_fields(lender))
        lender.save(update_fields=["released_fields"])
    sandbox_settings_for(lender)
