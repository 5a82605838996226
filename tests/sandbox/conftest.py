"""Fixtures for the sandbox lender: a lender row, its product, and an authenticated API client."""

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import ProductFactory, sandbox_lender

CONSUMER = {
    "documentType": "CC",
    "documentNumber": "1020304050",
    "fullName": "Ana María Pérez",
    "monthlyIncome": 3_200_000,
    "currency": "COP",
}


@dataclass
class SandboxApi:
    client: Client
    lender: Lender
    product: Product

    @property
    def base(self) -> str:
        return f"/sandbox/embedded/{self.lender.code}"

    def headers(self, api_key: str | None = None) -> dict:
        return {"HTTP_X_API_KEY": self.lender.credentials["api_key"] if api_key is None else api_key}

    def decide(self, tracking_id: str, *, api_key: str | None = None, **changes):
        consumer = {**CONSUMER, **changes.pop("consumer", {})}
        body = {"trackingId": tracking_id, "productId": self.product.product_id, "listingId": "lst_test000001",
                "consumer": consumer, **changes}
        return self.client.post(f"{self.base}/decisions", json.dumps(body), content_type="application/json",
                                **self.headers(api_key))

    def apply(self, tracking_id: str, offer_id: str, **changes):
        consumer = {**CONSUMER, "email": "ana.perez@example.com", "phone": "+573001234567", **changes.pop("consumer", {})}
        body = {"trackingId": tracking_id, "selectedOfferId": offer_id, "consumer": consumer, **changes}
        return self.client.post(f"{self.base}/applications", json.dumps(body), content_type="application/json",
                                **self.headers())

    def script(self, failure_script: str, **knobs) -> None:
        SandboxLenderSettings.objects.update_or_create(lender=self.lender, defaults={"failure_script": failure_script, **knobs})


@pytest.fixture
def api(db) -> SandboxApi:
    lender = sandbox_lender(server_url="http://testserver")
    return SandboxApi(client=Client(), lender=lender, product=ProductFactory(lender=lender))
