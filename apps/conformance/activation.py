"""The production activation policy (settings.LENDER_ACTIVATION_POLICY names this module; the
lenders app calls it through apps.lenders.activation): a production row may be turned active
only with a valid conformance certificate of its staging counterpart; staff may override with a
reason, recorded as an ActivationOverride (and in the audit log: apps/backoffice/audit.py)."""

from __future__ import annotations

from apps.conformance.models import ActivationOverride
from apps.conformance.selectors import certificate_valid_for
from apps.lenders.models import Lender


def refusal(lender: Lender) -> str:
    staging = lender.staging_counterpart
    if staging is None:
        return "This production row has no staging counterpart, so no conformance certificate can vouch for it."
    if certificate_valid_for(staging) is None:
        return f"The staging row {staging.code} has no valid conformance certificate."
    return ""


def override_record(*, lender: Lender, user, reason: str, refusal: str) -> None:
    ActivationOverride.objects.create(lender=lender, user=user, reason=reason, refusal=refusal)
