"""Writes to products: minting product_id, staff edits, a lender's proposals and their review.

A product moves draft → in review → live → retired (PRODUCT_TRANSITIONS). What a lender sends
never changes what consumers see until staff approve it: a new product waits in review, and a
change to a live product waits as a pending ProductRevision while the live terms stay as they are.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.products.models import PRODUCT_DATA_FIELDS, Product, ProductRevision
from apps.products.selectors import in_lender_language, product_data_value

logger = logging.getLogger(__name__)

State = Product.State

# Who may move a product where. Approval (in review → live) goes through product_revision_approve
# when a revision is pending, so the proposed data is applied in the same step.
PRODUCT_TRANSITIONS: dict[str, set[str]] = {
    State.DRAFT: {State.IN_REVIEW},
    State.IN_REVIEW: {State.LIVE, State.DRAFT},
    State.LIVE: {State.RETIRED},
    State.RETIRED: {State.IN_REVIEW},
}


class ProductError(Exception):
    """A product change that its state does not allow."""


class ProductNotFound(ProductError):
    pass


def product_id_mint(*, kind: str) -> str:
    """The next public id for a kind: ln_personal_01, ln_personal_02, ..."""
    prefix = f"ln_{kind}_"
    numbers = [
        int(value[len(prefix):])
        for value in Product.objects.filter(product_id__startswith=prefix).values_list("product_id", flat=True)
        if value[len(prefix):].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1:02d}"


def _save_with_fresh_id(product: Product) -> Product:
    """Mint, validate and insert, minting again if someone else took the id in between."""
    for _ in range(5):
        product.product_id = product_id_mint(kind=product.kind)
        product.full_clean()
        try:
            with transaction.atomic():
                product.save()
            return product
        except IntegrityError:
            if Product.objects.filter(product_id=product.product_id).exists():
                continue
            raise
    raise IntegrityError("Could not mint a unique product_id.")


@in_lender_language
def product_create(**fields) -> Product:
    """A product made by staff: a draft unless a state is given."""
    fields.setdefault("state", State.DRAFT)
    return _save_with_fresh_id(Product(**fields))


@transaction.atomic
def product_state_move(*, product: Product, to: str) -> Product:
    """Move a product along PRODUCT_TRANSITIONS (staff actions)."""
    locked = Product.objects.select_for_update().get(pk=product.pk)
    if to not in PRODUCT_TRANSITIONS[locked.state]:
        raise ProductError(f"A {locked.get_state_display().lower()} product cannot become {State(to).label.lower()}.")
    if to == State.LIVE and locked.revisions.filter(state=ProductRevision.State.PENDING).exists():
        raise ProductError("Approve or reject the pending revision first: it carries the data to publish.")
    locked.state = to
    fields = ["state", "updated_at"]
    if to == State.LIVE and locked.went_live_at is None:
        locked.went_live_at = timezone.now()
        fields.append("went_live_at")
    locked.save(update_fields=fields)
    return locked


# --- The lender's product data API ----------------------------------------------------------------


@dataclass(frozen=True)
class ProductSubmission:
    product: Product
    revision: ProductRevision
    created: bool


def _normalised(data: dict) -> dict:
    """Every data field, as JSON; a field left out takes the model's default (no fee, no limit)."""
    return {
        name: product_data_value(name, data[name] if name in data else Product._meta.get_field(name).get_default())
        for name in PRODUCT_DATA_FIELDS
    }


def _validated_candidate(product: Product, data: dict) -> None:
    """Raise ValidationError (by field) if `data` would not make a valid product."""
    candidate = copy.copy(product)  # the same row, changed: its own id and product_id are not duplicates
    candidate._state = copy.copy(product._state)
    for name, value in data.items():
        setattr(candidate, name, value)
    candidate.full_clean()


@in_lender_language
@transaction.atomic
def product_lender_submit(*, lender, data: dict, product_id: str | None = None) -> ProductSubmission:
    """A lender's product data: a new product in review, or a pending change of one of its own.

    Without product_id, a product of this lender with the same `lender_reference` is updated (so
    a retried create does not make a second product); otherwise a product is created and its
    product_id minted. Either way staff approve the revision before anything goes live.
    """
    data = _normalised(data)
    product = _lender_product(lender=lender, product_id=product_id, lender_reference=data["lender_reference"])
    if product is None:
        product = Product(lender=lender, state=State.IN_REVIEW, **data)
        _save_with_fresh_id(product)
        revision = ProductRevision.objects.create(product=product, data=data)
        logger.info("lender %s proposed new product %s", lender.code, product.product_id)
        return ProductSubmission(product=product, revision=revision, created=True)
    _validated_candidate(product, data)
    ProductRevision.objects.filter(product=product, state=ProductRevision.State.PENDING).update(
        state=ProductRevision.State.SUPERSEDED, decided_at=timezone.now()
    )
    revision = ProductRevision.objects.create(product=product, data=data)
    if product.state == State.DRAFT:
        Product.objects.filter(pk=product.pk).update(state=State.IN_REVIEW, updated_at=timezone.now())
        product.state = State.IN_REVIEW
    logger.info("lender %s proposed a change to product %s", lender.code, product.product_id)
    return ProductSubmission(product=product, revision=revision, created=False)


def _lender_product(*, lender, product_id: str | None, lender_reference: str) -> Product | None:
    """The lender's product to change, locked; None when a new one is to be made."""
    products = Product.objects.select_for_update().filter(lender=lender)
    if product_id is not None:
        product = products.filter(product_id=product_id).first()
        if product is None:
            raise ProductNotFound(f"You have no product {product_id}.")
        return product
    if lender_reference:
        return products.filter(lender_reference=lender_reference).first()
    return None


@in_lender_language
@transaction.atomic
def product_revision_approve(*, revision: ProductRevision, user=None) -> Product:
    """Apply a pending revision. A product in review (or a draft) goes live with it; a live or
    retired product keeps its state and takes the new data."""
    revision = ProductRevision.objects.select_for_update().select_related("product").get(pk=revision.pk)
    if revision.state != ProductRevision.State.PENDING:
        raise ProductError(f"This revision is {revision.get_state_display().lower()}, not pending.")
    product = Product.objects.select_for_update().get(pk=revision.product_id)
    for name in PRODUCT_DATA_FIELDS:
        setattr(product, name, revision.data.get(name))
    try:
        product.full_clean()
    except ValidationError as error:
        raise ProductError(f"The proposed data is no longer valid: {error.messages}") from error
    now = timezone.now()
    if product.state in (State.DRAFT, State.IN_REVIEW):
        product.state = State.LIVE
        product.went_live_at = product.went_live_at or now
    product.save()
    revision.state, revision.decided_at, revision.decided_by = ProductRevision.State.APPROVED, now, user
    revision.save(update_fields=["state", "decided_at", "decided_by"])
    return product


@transaction.atomic
def product_revision_reject(*, revision: ProductRevision, user=None, note: str = "") -> ProductRevision:
    """Refuse a pending revision; a product that was only waiting for it goes back to draft."""
    revision = ProductRevision.objects.select_for_update().select_related("product").get(pk=revision.pk)
    if revision.state != ProductRevision.State.PENDING:
        raise ProductError(f"This revision is {revision.get_state_display().lower()}, not pending.")
    revision.state, revision.decided_at, revision.decided_by = ProductRevision.State.REJECTED, timezone.now(), user
    revision.note = note[:500]
    revision.save(update_fields=["state", "decided_at", "decided_by", "note"])
    waiting = Product.objects.filter(pk=revision.product_id, state=State.IN_REVIEW)
    waiting.update(state=State.DRAFT, updated_at=timezone.now())
    return revision
