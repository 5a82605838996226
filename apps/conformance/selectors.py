"""Reads of the conformance records."""

from __future__ import annotations

from django.utils import timezone

from apps.conformance.models import Certificate
from apps.lenders.models import Lender


def certificate_valid_for(lender: Lender) -> Certificate | None:
    """The lender row's newest certificate still valid now, if any."""
    return (Certificate.objects.filter(lender=lender, revoked_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-issued_at").first())
