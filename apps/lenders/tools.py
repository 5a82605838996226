"""Staff tools for a lender's configuration (admin): a dry run against its staging API, and
changing its secrets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from apps.lenders.adapters.base import AdapterConfigurationError, AdapterError, Consumer, DecisionResult, LenderAdapter, PrequalifyRequest
from apps.lenders.calls import failure_text
from apps.lenders.config import adapter_for, idempotency_key
from apps.lenders.http import Exchange
from apps.lenders.models import Lender

DRY_RUN_CONSUMER = Consumer(
    document_type="CC", document_number="1000000001", full_name="Prueba Sandbox", monthly_income=3_200_000,
    email="prueba@example.com", phone="+573000000000", birth_date="1990-01-15", region="CO-DC",
    extra={"employment_status": "employed", "city": "Bogotá", "address_line": "Calle 1 # 2-3", "postal_code": "110111"},
)


@dataclass
class DryRun:
    """What a dry run sent and what the adapter made of the answer (shown to staff)."""

    exchanges: list[Exchange] = field(default_factory=list)
    result: DecisionResult | None = None
    error: str = ""
    error_kind: str = ""


def lender_dry_run(*, lender: Lender) -> DryRun:
    """One prequalify call with made-up data, recorded nowhere: for staff checking a new
    lender's configuration (above all a mapped JSON lender) against its sandbox or staging API.
    Refused for production lenders, which must not receive made-up applications."""
    if lender.environment != Lender.Environment.STAGING:
        return DryRun(error="Dry runs are for staging lenders only.", error_kind="refused")
    product = lender.products.filter(is_active=True).first() if hasattr(lender, "products") else None
    request = PrequalifyRequest(
        tracking_id=f"dryrun_{uuid.uuid4()}", product_id=product.product_id if product else "dry-run",
        listing_id="dry-run", consumer=DRY_RUN_CONSUMER, requested_amount=int(product.min_amount) if product else None,
    )
    run = DryRun()
    adapter: LenderAdapter | None = None
    try:
        adapter = adapter_for(lender)
        run.result = adapter.prequalify(request, idempotency_key=idempotency_key(request.tracking_id, "prequalify"))
    except (AdapterError, AdapterConfigurationError) as exc:
        run.error = failure_text(exc) if isinstance(exc, AdapterError) else str(exc)
        run.error_kind = type(exc).__name__
    if adapter is not None:
        run.exchanges = list(adapter.http.exchanges)
    return run


def lender_secrets_apply(
    *, lender: Lender, credentials_updates: dict[str, str] | None = None, credentials_remove: list[str] | None = None,
) -> None:
    """Change a lender's adapter credentials on the (unsaved) instance; blank values keep what is
    stored. Postback secrets are not set here: the platform issues them (apps.lenders.credentials)."""
    credentials = dict(lender.credentials or {})
    for name in credentials_remove or []:
        credentials.pop(name, None)
    credentials.update({name: value for name, value in (credentials_updates or {}).items() if value})
    lender.credentials = credentials
    # The bearer key's digest follows the auth mode (the secret itself only changes by issuing).
    api_key_mode = lender.postback_auth == Lender.PostbackAuth.API_KEY and lender.postback_secret
    lender.postback_api_key_digest = Lender.api_key_digest(lender.postback_secret) if api_key_mode else ""
