"""The kit's test journeys: real leads of the lender's row, driven through the lender engine's
own attempt functions (what the Celery worker runs), with synthetic consumers.

Test journeys belong to an inactive origin of their own (`conformance`), are charged to no
campaign and are never shown in the flow; their tracking IDs are minted like any other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.leads.engine.attempt import lender_prequalify_attempt, lender_submit_attempt
from apps.leads.engine.outcomes import AttemptOutcome
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.models import Decision, IncomeBand, Lead, LeadStatus
from apps.lenders.models import Lender
from apps.origins.models import Origin
from apps.origins.services import tracking_id_mint
from apps.products.models import Product

ORIGIN_CODE = "conformance"
# What every synthetic consumer gives besides document and income: enough for any style.
CONTACT = {"full_name": "Prueba Conformidad", "email": "conformidad@prosperas.invalid", "phone": "+573000000001",
           "birth_date": "1990-01-01", "region": "CO-DC"}
EXTRA = {"employment_status": "employed", "address_line": "Calle 1 # 1-1", "city": "Bogotá", "postal_code": "110111"}
DECIDED = {LeadStatus.OFFERED, LeadStatus.NOT_ELIGIBLE, LeadStatus.DECISION_FAILED}
SUBMISSION_DONE = {LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF, LeadStatus.SUBMISSION_FAILED}


class KitSetupError(Exception):
    """The lender cannot be tested as configured (no product with a listing...)."""


@dataclass(frozen=True)
class Target:
    lender: Lender
    product: Product
    listing_pk: int


def kit_origin() -> Origin:
    origin, _ = Origin.objects.get_or_create(
        code=ORIGIN_CODE, defaults={"name": "Conformance kit (test journeys)", "kind": Origin.Kind.PAYMENT_APP,
                                    "is_active": False},
    )
    return origin


def target_for(lender: Lender, product: Product | None) -> Target:
    products = Product.objects.filter(lender=lender, is_active=True).order_by("id")
    product = product if product is not None and product.lender_id == lender.pk else None
    for candidate in ([product] if product else list(products)):
        listing = candidate.listings.order_by("id").first()
        if listing is not None:
            return Target(lender=lender, product=candidate, listing_pk=listing.pk)
    raise KitSetupError(f"{lender.code} has no active product with a listing to apply for.")


def requested_amount(product: Product) -> int:
    return int(min(product.max_amount, max(product.min_amount, 3_000_000)))


@transaction.atomic
def journey_create(target: Target, *, income: int, document_number: str, document_type: str = "CC",
                   **contact: str) -> Lead:
    """A test journey whose consumer has given identity and income: waiting for the decision.
    `contact` overrides the synthetic consumer's CONTACT values."""
    origin = kit_origin()
    lead = Lead.objects.create(
        origin=origin, tracking_id=tracking_id_mint(origin=origin), public_token=secrets.token_urlsafe(32),
        listing_id=target.listing_pk, product=target.product, lender=target.lender, currency=target.product.currency,
        status=LeadStatus.AWAITING_DECISION, identity_at=timezone.now(), document_type=document_type,
        document_number=document_number, monthly_income=income, monthly_income_band=IncomeBand.of(income),
        requested_amount=requested_amount(target.product), **{**CONTACT, **contact},
    )
    lead_extra_data_set(lead=lead, values=EXTRA)
    return lead


def drive(attempt: Callable[[], AttemptOutcome], done: Callable[[], bool], *, seconds: float) -> None:
    """Call `attempt` as the worker would (again after its countdown) until `done()` or time is up.
    A redelivered or concurrent task finds the work claimed or done, so the worker may run the
    same journey at the same time without harm."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = attempt()
        if done() or time.monotonic() >= deadline:
            return
        wait = outcome.countdown if outcome.should_retry and outcome.countdown else 0.2
        time.sleep(max(0.05, min(wait, deadline - time.monotonic())))


def decide(lead: Lead, *, seconds: float, until_final: bool = True) -> Lead:
    """Ask the lender's decision for `lead`; with `until_final`, keep asking while it is pending."""
    lender_id = lead.lender_id

    def done() -> bool:
        status = Lead.objects.values_list("status", flat=True).get(pk=lead.pk)
        return status in DECIDED or (not until_final and status == LeadStatus.DECISION_PENDING)

    drive(lambda: lender_prequalify_attempt(lead_id=lead.pk, lender_id=lender_id), done, seconds=seconds)
    return Lead.objects.get(pk=lead.pk)


def submit(lead: Lead, *, seconds: float) -> Lead:
    drive(lambda: lender_submit_attempt(lead_id=lead.pk),
          lambda: Lead.objects.values_list("status", flat=True).get(pk=lead.pk) in SUBMISSION_DONE, seconds=seconds)
    return Lead.objects.get(pk=lead.pk)


def decision_of(lead: Lead) -> Decision | None:
    return Decision.objects.filter(lead=lead, lender_id=lead.lender_id).prefetch_related("offers").first()
