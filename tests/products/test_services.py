from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from apps.products.models import PRODUCT_DATA_FIELDS, Product, ProductRevision
from apps.products.selectors import product_revision_diff
from apps.products.services import (
    ProductError,
    ProductNotFound,
    product_create,
    product_id_mint,
    product_lender_submit,
    product_revision_approve,
    product_revision_reject,
    product_state_move,
)
from tests.factories import LenderFactory, ProductFactory

FIELDS = dict(name="Libre inversión", currency="COP", min_amount=1_000_000, max_amount=5_000_000,
              min_term_months=6, max_term_months=36, min_annual_rate="0.18", max_annual_rate="0.30")


@pytest.mark.django_db
def test_product_ids_are_minted_per_kind_in_sequence():
    lender = LenderFactory()

    first = product_create(lender=lender, kind="personal", **FIELDS)
    second = product_create(lender=lender, kind="personal", **FIELDS)
    payroll = product_create(lender=lender, kind="payroll", **FIELDS)

    assert (first.product_id, second.product_id, payroll.product_id) == ("ln_personal_01", "ln_personal_02", "ln_payroll_01")


@pytest.mark.django_db
def test_minting_continues_after_the_highest_existing_number():
    ProductFactory(product_id="ln_personal_09")

    assert product_id_mint(kind="personal") == "ln_personal_10"


@pytest.mark.django_db
def test_a_product_whose_ranges_are_inverted_is_refused():
    with pytest.raises(ValidationError) as error:
        product_create(lender=LenderFactory(), kind="personal", **{**FIELDS, "min_amount": 9_000_000})

    assert "max_amount" in error.value.message_dict


# --- States and the lender's proposals --------------------------------------------------------------

DATA = {
    "lender_reference": "PL-STD", "name": "Crédito libre", "kind": "personal", "currency": "COP",
    "min_amount": "1000000.00", "max_amount": "9000000.00", "min_term_months": 6, "max_term_months": 36,
    "min_annual_rate": "0.1800", "max_annual_rate": "0.2800", "apr": None, "opening_fee": "0.00",
    "opening_fee_percent": "0.0000", "monthly_fee": "0.00", "min_monthly_income": None, "document_types": [],
    "min_age": None, "max_age": None, "regions": [], "disclosure": "", "logo_url": "",
}


@pytest.mark.django_db
def test_staff_products_start_as_drafts_and_move_only_along_the_allowed_states():
    product = product_create(lender=LenderFactory(), kind="personal", **FIELDS)
    assert product.state == Product.State.DRAFT

    with pytest.raises(ProductError):
        product_state_move(product=product, to=Product.State.LIVE)
    product_state_move(product=product, to=Product.State.IN_REVIEW)
    live = product_state_move(product=product, to=Product.State.LIVE)

    assert live.state == Product.State.LIVE
    assert Product.objects.get(pk=product.pk).is_active is True
    assert live.went_live_at is not None
    retired = product_state_move(product=product, to=Product.State.RETIRED)
    assert Product.objects.get(pk=retired.pk).is_active is False


@pytest.mark.django_db
def test_a_new_product_from_a_lender_waits_in_review_with_its_minted_id():
    submission = product_lender_submit(lender=LenderFactory(), data=DATA)

    product = submission.product
    assert submission.created and product.product_id == "ln_personal_01"
    assert product.state == Product.State.IN_REVIEW and not Product.objects.get(pk=product.pk).is_active
    assert [change.name for change in product_revision_diff(submission.revision)] == list(PRODUCT_DATA_FIELDS)


@pytest.mark.django_db
def test_a_lenders_change_to_a_live_product_waits_and_staff_see_only_what_changes():
    lender = LenderFactory()
    product = product_lender_submit(lender=lender, data=DATA).product
    product_revision_approve(revision=product.revisions.get())

    change = product_lender_submit(lender=lender, data={**DATA, "max_amount": "12000000.00", "regions": ["CO-DC"]})

    live = Product.objects.get(pk=product.pk)
    assert not change.created and live.state == Product.State.LIVE and live.max_amount == Decimal("9000000.00")
    diff = {c.name: (c.current, c.proposed) for c in product_revision_diff(change.revision)}
    assert diff == {"max_amount": ("9000000.00", "12000000.00"), "regions": ([], ["CO-DC"])}

    product_revision_approve(revision=change.revision)
    live.refresh_from_db()
    assert (live.max_amount, live.regions, live.state) == (Decimal("12000000.00"), ["CO-DC"], Product.State.LIVE)


@pytest.mark.django_db
def test_a_newer_proposal_supersedes_the_pending_one_and_a_retry_never_makes_a_second_product():
    lender = LenderFactory()
    first = product_lender_submit(lender=lender, data=DATA)
    second = product_lender_submit(lender=lender, data={**DATA, "name": "Crédito libre plus"})

    assert second.product.pk == first.product.pk and Product.objects.count() == 1
    assert list(first.product.revisions.values_list("state", flat=True).order_by("id")) == [
        ProductRevision.State.SUPERSEDED, ProductRevision.State.PENDING]


@pytest.mark.django_db
def test_a_rejected_first_proposal_sends_the_product_back_to_draft():
    submission = product_lender_submit(lender=LenderFactory(), data=DATA)

    product_revision_reject(revision=submission.revision, note="Falta la tasa máxima real")

    assert Product.objects.get(pk=submission.product.pk).state == Product.State.DRAFT
    with pytest.raises(ProductError):
        product_revision_approve(revision=submission.revision)


@pytest.mark.django_db
def test_a_lender_cannot_touch_another_lenders_product():
    owner, other = LenderFactory(), LenderFactory()
    product = product_lender_submit(lender=owner, data=DATA).product

    with pytest.raises(ProductNotFound):
        product_lender_submit(lender=other, data=DATA, product_id=product.product_id)


@pytest.mark.django_db
def test_inverted_ranges_from_a_lender_are_refused_by_field():
    with pytest.raises(ValidationError) as error:
        product_lender_submit(lender=LenderFactory(), data={**DATA, "min_term_months": 48})

    assert "max_term_months" in error.value.message_dict


@pytest.mark.django_db
def test_a_lenders_product_name_is_the_spanish_name_whatever_language_is_active():
    """The lender API answers in English and staff may run admin in English: the name a lender
    sends, and the one staff approve, is still the Spanish text consumers read by default; an
    English name staff wrote is kept."""
    lender = LenderFactory()
    with translation.override("en"):
        product = product_lender_submit(lender=lender, data={**DATA, "name": "Crédito libre"}).product
        product_revision_approve(revision=product.revisions.get())
    Product.objects.filter(pk=product.pk).update(name_en="Personal loan")
    with translation.override("en"):
        product_lender_submit(lender=lender, data={**DATA, "name": "Crédito libre plus"}, product_id=product.product_id)
        product_revision_approve(revision=product.revisions.get(state=ProductRevision.State.PENDING))

    stored = Product.objects.get(pk=product.pk)
    assert (stored.name_es_co, stored.name_en) == ("Crédito libre plus", "Personal loan")
    with translation.override("es-co"):
        assert Product.objects.get(pk=product.pk).name == "Crédito libre plus"
    with translation.override("en"):
        assert Product.objects.get(pk=product.pk).name == "Personal loan"
