"""Staff review what lenders send: the diff of a revision, approved or rejected in admin."""

import json
import secrets
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.products.models import Product, ProductRevision
from apps.products.services import product_lender_submit
from prosperas.inbound import signing
from tests.factories import LenderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-for-tests-only"))
    return client


def test_staff_see_what_a_lenders_proposal_changes_and_approve_it_from_the_diff(staff_client):
    lender = LenderFactory()
    data = {"lender_reference": "A1", "name": "Crédito ágil", "kind": "personal", "currency": "COP",
            "min_amount": "500000.00", "max_amount": "5000000.00", "min_term_months": 3, "max_term_months": 24,
            "min_annual_rate": "0.2000", "max_annual_rate": "0.3000"}
    product = product_lender_submit(lender=lender, data=data).product
    url = reverse("admin:products_productrevision_change", args=[product.revisions.get().pk])

    page = staff_client.get(url).content.decode()
    staff_client.post(url, {"_approve": "Approve and apply"})

    assert "Crédito ágil" in page and "Approve and apply" in page
    assert Product.objects.get(pk=product.pk).state == Product.State.LIVE
    change = product_lender_submit(lender=lender, data={**data, "max_amount": "7000000.00"})
    change_url = reverse("admin:products_productrevision_change", args=[change.revision.pk])
    diff_table = staff_client.get(change_url).content.decode().split("product-diff")[1]
    assert "7000000.00" in diff_table and "5000000.00" in diff_table and "Crédito ágil" not in diff_table
    staff_client.post(reverse("admin:products_productrevision_change", args=[change.revision.pk]),
                      {"_reject": "Reject", "_note": "Monto fuera de política"})
    change.revision.refresh_from_db()
    assert (change.revision.state, change.revision.note) == (ProductRevision.State.REJECTED, "Monto fuera de política")
    assert Product.objects.get(pk=product.pk).max_amount == Decimal("5000000.00")


def test_a_product_sent_through_the_api_appears_for_review_in_admin(client, staff_client):
    lender = LenderFactory(postback_secret="s3cret-" + secrets.token_hex(16))
    raw = json.dumps({"lender_reference": "B2", "name": "Libranza", "kind": "payroll", "currency": "COP",
                      "min_amount": "1000000.00", "max_amount": "2000000.00", "min_term_months": 12,
                      "max_term_months": 24, "min_annual_rate": "0.1500", "max_annual_rate": "0.1800"}).encode()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw)
    client.post("/api/v1/products", data=raw, content_type="application/json",
                **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"})

    page = staff_client.get(reverse("admin:products_productrevision_changelist"), {"state": "pending"}).content.decode()

    assert "Libranza (ln_payroll_01)" in page
