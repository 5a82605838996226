"""An origin with API credentials, and the lead body it sends (apps.origin_api)."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from apps.origin_api.models import Environment, OriginApiClient
from apps.origin_api.services import origin_client_create
from apps.origins.models import Origin
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish

LEAD_BODY = {
    "partnerLeadId": "wallet-000123",
    "borrower": {
        "documentType": "CC", "documentNumber": "1.020.304.050", "fullName": "Ana María Pérez",
        "birthDate": "1990-05-17", "email": "ana.perez@example.com", "phone": "300 123 4567",
        "monthlyIncome": 3_500_000, "region": "CO-DC", "employmentStatus": "employed",
        "addressLine": "Calle 10 # 5-51", "city": "Bogotá", "postalCode": "110111",
    },
    "loan": {"amount": 3_000_000, "termMonths": 24, "purpose": "debt_consolidation"},
    "consent": {"textVersion": "2026-11-01", "acceptedAt": "2026-12-01T10:15:00-05:00",
                "kinds": ["terms", "privacy", "data_processing"], "ipAddress": "190.24.10.8"},
}
# Values that identify the borrower: never in a URL or a log line.
PERSONAL_VALUES = ("1020304050", "Ana María", "Pérez", "ana.perez", "3001234567")


def lead_body(partner_lead_id: str = "wallet-000123", **sections) -> dict:
    """LEAD_BODY with its partnerLeadId and sections' fields changed (borrower={...} merges)."""
    body = copy.deepcopy(LEAD_BODY)
    body["partnerLeadId"] = partner_lead_id
    for name, changes in sections.items():
        body[name] = {**body[name], **changes} if isinstance(changes, dict) else changes
    return body


def token_for(client: OriginApiClient, scope: str = "leads events") -> str:
    """A token of `client` as the token endpoint stores one (tests/origin_api/test_oauth.py
    gets real ones over HTTP; the others skip the hashing of a secret per test)."""
    token = secrets.token_urlsafe(30)
    access_token = AccessToken(application=client.application, scope=scope, expires=timezone.now() + timedelta(hours=1))
    set_token_value(access_token, token)  # kept as its checksum only (settings: RFC 9700 token storage)
    access_token.save()
    return token


@dataclass
class OriginCaller:
    origin: Origin
    api_client: OriginApiClient
    http: Client
    token: str

    def post_lead(self, body: dict, **headers):
        return self.http.post("/api/v1/leads", body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {self.token}", **headers)

    def get_lead(self, uuid: str, **headers):
        return self.http.get(f"/api/v1/leads/{uuid}", HTTP_AUTHORIZATION=f"Bearer {self.token}", **headers)


def caller_for(origin: Origin, environment: str = Environment.STAGING, scope: str = "leads events") -> OriginCaller:
    api_client = origin_client_create(origin=origin, environment=environment).client
    return OriginCaller(origin=origin, api_client=api_client, http=Client(), token=token_for(api_client, scope))


@pytest.fixture
def market(db) -> tuple[Origin, list]:
    """An origin whose catalog has two lenders (staging, the embedded style: no extra fields)."""
    origin = OriginFactory(code="billeteraya", name="Billetera Ya", prefix_tracking_ids=True)
    lenders = []
    for code, name in (("alfa", "Banco Alfa"), ("beta", "Fintech Beta")):
        lender = LenderFactory(code=code, name=name)
        publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
        lenders.append(lender)
    return origin, lenders


@pytest.fixture
def caller(market) -> OriginCaller:
    return caller_for(market[0])
