"""Whether a lender's production row may be turned active, and the record of a staff override.

The rule itself (a valid conformance certificate of the row's staging counterpart) belongs to the
conformance app, which sits above this one: it is reached through the dotted path in
settings.LENDER_ACTIVATION_POLICY, a module with

    refusal(lender) -> str                         # "" when activation is allowed
    override_record(*, lender, user, reason, refusal) -> None

so this app never imports it (as adapters name their sandbox module). Without a policy every
activation is allowed. The admin's lender form and the conformance services both ask here.
"""

from __future__ import annotations

from types import ModuleType

from django.conf import settings
from django.utils.module_loading import import_module

from apps.lenders.models import Lender


def _policy() -> ModuleType | None:
    path = getattr(settings, "LENDER_ACTIVATION_POLICY", "")
    return import_module(path) if path else None


def activation_is_guarded(*, lender: Lender, was_active: bool) -> bool:
    """Whether saving `lender` as it is turns a production row active (the guarded change)."""
    return lender.is_active and not was_active and lender.environment == Lender.Environment.PRODUCTION


def lender_activation_refusal(lender: Lender) -> str:
    """Why `lender` may not be turned active now ("" when it may)."""
    policy = _policy()
    return policy.refusal(lender) if policy is not None else ""


def lender_activation_override_record(*, lender: Lender, user, reason: str, refusal: str) -> None:
    """Record that staff activated `lender` despite `refusal`, and why."""
    policy = _policy()
    if policy is not None:
        policy.override_record(lender=lender, user=user, reason=reason, refusal=refusal)
