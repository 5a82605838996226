"""Fixtures of the lender portal: a lender with its two environments, a member with a confirmed
authenticator, and signing in through the portal's own login form with a real TOTP code."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.lenders.models import Lender
from apps.partners.models import PartnerMembership
from tests.factories import LenderFactory

PASSWORD = "a-Long-partner-pass-2026"


def totp_code(device: TOTPDevice, *, ahead: int = 0) -> str:
    """The code the authenticator shows now (or `ahead` steps later: a code is accepted once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def environments(db):
    staging = LenderFactory(code="acme-staging", name="Acme Credit", environment=Lender.Environment.STAGING)
    production = LenderFactory(code="acme", name="Acme Credit", environment=Lender.Environment.PRODUCTION)
    return staging, production


@pytest.fixture
def other_lender(db):
    return LenderFactory(code="rival-staging", name="Rival Loans", environment=Lender.Environment.STAGING)


def member_of(lenders, email: str = "dev@acme.example"):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    for lender in lenders:
        PartnerMembership.objects.create(user=user, lender=lender)
    device = TOTPDevice.objects.create(user=user, name="partners", confirmed=True)
    return user, device


@pytest.fixture
def partner(environments):
    return member_of(environments)


@pytest.fixture
def partner_client(client, partner):
    user, device = partner
    response = client.post("/partners/login/", {"email": user.email, "password": PASSWORD, "code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == "/partners/", response.content.decode()[:500]
    return client
