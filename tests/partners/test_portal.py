"""The lender portal through Django's test client: invitation, password and TOTP, sign-in with
the second factor, scoping (another lender's objects are 404s), credentials, the postback
debugger, leads, products and the SLA scoreboard."""

import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.lenders.credentials import credential_issue, handover_create
from apps.lenders.models import LenderCall, LenderCredential
from apps.partners.models import PartnerInvitation, PartnerMembership
from apps.products.models import ProductRevision
from tests.factories import LeadFactory, ProductFactory
from tests.partners.conftest import PASSWORD, totp_code
from tests.postbacks.conftest import post_postback  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def invite(admin_client, lenders, capture, email="new.person@acme.example") -> str:
    with capture(execute=True):  # the email leaves once the invitation is committed
        response = admin_client.post("/admin/partners/partnerinvitation/add/", {
            "email": email, "lenders": [lender.pk for lender in lenders]})
    assert response.status_code == 302, response.content.decode()[:1500]
    (message,) = mail.outbox
    assert message.to == [email]
    return re.search(r"http://testserver(/partners/invitation/[^/\s]+/)", message.body).group(1)


def test_an_invited_person_sets_a_password_enrols_totp_and_signs_in_with_it(
        admin_client, client, environments, django_capture_on_commit_callbacks):
    link = invite(admin_client, environments, django_capture_on_commit_callbacks)
    invitation = PartnerInvitation.objects.get()
    assert link.split("/")[-2] not in str(invitation.__dict__)  # only the digest is stored
    assert client.get(link).status_code == 200
    weak = client.post(link, {"password": "short", "password_again": "short"})
    assert weak.status_code == 200 and PartnerInvitation.objects.get().accepted_at is None
    accepted = client.post(link, {"password": PASSWORD, "password_again": PASSWORD})
    assert accepted["Location"] == "/partners/enrol/"
    assert client.get("/partners/").status_code == 302  # signed in, but no second factor yet
    enrol = client.get("/partners/enrol/")
    assert enrol.status_code == 200 and b"data:image/svg+xml;base64," in enrol.content
    device = TOTPDevice.objects.get(user__username="new.person@acme.example")
    assert client.post("/partners/enrol/", {"code": "000000"}).status_code == 200
    time.sleep(1.1)  # django-otp throttles a device for 1 s after a wrong code
    assert client.post("/partners/enrol/", {"code": totp_code(device)})["Location"] == "/partners/"
    home = client.get("/partners/")
    assert home.status_code == 200 and b"Postback credentials issued" in home.content
    assert set(PartnerMembership.objects.values_list("lender", flat=True)) == {lender.pk for lender in environments}

    assert client.get(link).status_code == 410  # the invitation works once
    client.post("/partners/logout/")
    wrong = client.post("/partners/login/", {"email": "new.person@acme.example", "password": PASSWORD,
                                             "code": "123456"})
    assert wrong.status_code == 200 and client.get("/partners/").status_code == 302
    time.sleep(1.1)
    signed_in = client.post("/partners/login/", {"email": "new.person@acme.example", "password": PASSWORD,
                                                 "code": totp_code(TOTPDevice.objects.get(pk=device.pk), ahead=1)})
    assert signed_in["Location"] == "/partners/"


def test_an_expired_invitation_is_dead(admin_client, client, environments, django_capture_on_commit_callbacks):
    link = invite(admin_client, environments, django_capture_on_commit_callbacks)
    PartnerInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(link).status_code == 410
    assert client.post(link, {"password": PASSWORD, "password_again": PASSWORD}).status_code == 410


def test_a_password_alone_does_not_open_the_portal(client, partner, admin_user):
    user, _device = partner
    client.force_login(user)  # signed in without the second factor
    assert client.get("/partners/credentials/")["Location"].startswith("/partners/login/")
    client.logout()
    staff = client.post("/partners/login/", {"email": admin_user.username, "password": "password", "code": "123456"})
    assert staff.status_code == 200  # staff sign in to admin, not here


def test_another_lenders_objects_are_404(partner_client, other_lender):
    credential = other_lender.postback_credentials.get()
    lead = LeadFactory(listing__product__lender=other_lender)
    LenderCall.objects.create(lender=other_lender, lead=lead, capability="prequalify", attempt=1,
                              idempotency_key="k", started_at=timezone.now(), outcome="approved")
    product = ProductFactory(lender=other_lender)
    assert partner_client.post(f"/partners/credentials/revoke/{credential.pk}/").status_code == 404
    assert partner_client.post(f"/partners/credentials/{other_lender.pk}/issue/").status_code == 404
    assert partner_client.get(f"/partners/leads/{lead.tracking_id}/").status_code == 404
    assert partner_client.get(f"/partners/products/{product.product_id}/propose/").status_code == 404
    assert partner_client.post("/partners/postbacks/", {"lender": other_lender.pk, "click_id": "x",
                                                        "status": "approved"}).status_code == 200  # not a choice
    credential.refresh_from_db()
    assert credential.revoked_at is None and LenderCredential.objects.filter(lender=other_lender).count() == 1
    for page in ("/partners/", "/partners/credentials/", "/partners/leads/", "/partners/products/", "/partners/sla/"):
        html = partner_client.get(page).content.decode()
        assert "Rival" not in html and other_lender.postback_key not in html and lead.tracking_id not in html


def test_credentials_are_issued_shown_once_and_revoked(partner_client, environments):
    staging, _production = environments
    old = staging.postback_secret
    issued = partner_client.post(f"/partners/credentials/{staging.pk}/issue/")
    staging.refresh_from_db()
    new = staging.postback_secret
    assert issued.status_code == 200 and new in issued.content.decode() and "no-store" in issued["Cache-Control"]
    page = partner_client.get("/partners/credentials/").content.decode()
    assert new not in page and old not in page and "expiring" in page and "active" in page
    credential = LenderCredential.objects.get(lender=staging, revoked_at=None, expires_at=None)
    assert credential.issued_by == "partner:dev@acme.example"
    partner_client.post(f"/partners/credentials/revoke/{credential.pk}/")
    staging.refresh_from_db()
    assert staging.postback_secret == old  # the rotated-out one still in its overlap, now the only live one


def test_a_secret_handed_over_by_link_leads_on_to_the_onboarding_checklist(client, environments):
    issued = credential_issue(lender=environments[0], issued_by="staff:test")
    token = handover_create(credential=issued.credential, created_by="staff:test")
    page = client.post(f"/partners/handover/{token}/").content.decode()
    assert issued.secret in page
    assert '<a href="/partners/">your onboarding checklist</a>' in page


def test_the_debugger_lists_accepted_and_refused_postbacks_and_searches_by_click_id(
        partner_client, environments, post_postback):  # noqa: F811
    staging, _ = environments
    lead = LeadFactory(listing__product__lender=staging)
    other = LeadFactory(listing__product__lender=staging)
    assert post_postback(staging, {"click_id": lead.tracking_id, "status": "pre_approved"}).status_code == 202
    assert post_postback(staging, {"click_id": other.tracking_id, "status": "approved"}).status_code == 202
    assert post_postback(staging, {"click_id": lead.tracking_id.upper(), "status": "approved"}).status_code == 404
    refused = post_postback(staging, {"click_id": lead.tracking_id, "status": "approved"}, secret="wrong-secret")
    assert refused.status_code == 401

    html = partner_client.get("/partners/postbacks/", {"click_id": lead.tracking_id}).content.decode()
    assert "202 accepted" in html and "401 bad_signature" in html
    assert other.tracking_id not in html
    everything = partner_client.get("/partners/postbacks/").content.decode()
    assert other.tracking_id in everything and "404 unknown_click_id" in everything
    assert "letter case" in everything.lower() or "upper" in everything.lower()  # the look-alike hint


def test_the_leads_page_shows_only_what_the_lender_received_masked(partner_client, environments, post_postback):  # noqa: F811
    staging, _ = environments
    lead = LeadFactory(listing__product__lender=staging, document_number="1020304050", full_name="Ana María Pérez")
    LenderCall.objects.create(lender=staging, lead=lead, capability="prequalify", attempt=1, idempotency_key="k",
                              started_at=timezone.now(), outcome="approved", http_status=200, duration_ms=812,
                              request_body='{"documentNumber":"••••••••50"}', response_body='{"decision":"approved"}')
    post_postback(staging, {"click_id": lead.tracking_id, "status": "pre_approved"})
    listing = partner_client.get("/partners/leads/").content.decode()
    assert lead.tracking_id in listing
    detail = partner_client.get(f"/partners/leads/{lead.tracking_id}/").content.decode()
    assert "812 ms" in detail and "••••••••50" in detail and "Postback pre_approved" in detail
    assert "1020304050" not in detail and "Ana María" not in detail


def test_a_product_change_goes_to_staff_review(partner_client, environments):
    staging, _ = environments
    product = ProductFactory(lender=staging, lender_reference="acme-flex-1")
    form = partner_client.get(f"/partners/products/{product.product_id}/propose/")
    data = form.context["form"].initial["data"].replace(f'"name": "{product.name}"', '"name": "Acme Flex"')
    response = partner_client.post(f"/partners/products/{product.product_id}/propose/", {"data": data})
    assert response.status_code == 302, response.content.decode()[:2000]
    revision = ProductRevision.objects.get(product=product, state=ProductRevision.State.PENDING)
    assert revision.data["name"] == "Acme Flex"
    product.refresh_from_db()
    assert product.name != "Acme Flex"  # nothing changes before staff approve
    bad = partner_client.post(f"/partners/products/{product.product_id}/propose/", {"data": '{"name": 3}'})
    assert bad.status_code == 200 and ProductRevision.objects.filter(product=product).count() == 1


def test_the_sla_scoreboard_shows_latency_against_5_seconds(partner_client, environments):
    staging, _ = environments
    lead = LeadFactory(listing__product__lender=staging)
    for index, (duration, outcome) in enumerate([(400, "approved"), (900, "rejected"), (7000, "technical_failure")]):
        LenderCall.objects.create(lender=staging, lead=lead, capability="prequalify", attempt=index + 1,
                                  idempotency_key=f"k{index}", started_at=timezone.now(), outcome=outcome,
                                  duration_ms=duration)
    html = partner_client.get("/partners/sla/").content.decode()
    assert "900 ms" in html and "7000 ms" in html and "over 5 s" in html
    assert "33%" in html and "50%" in html  # failures of all calls; approvals of decisions


def test_the_checklist_ticks_what_is_really_done(partner_client, environments):
    staging, _ = environments
    html = partner_client.get("/partners/").content.decode()
    assert html.count('class="done"') == 2  # credentials, both environments; nothing else yet
    ProductFactory(lender=staging)
    assert partner_client.get("/partners/").content.decode().count('class="done"') == 3
