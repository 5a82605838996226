"""A toy lender API style, written as a new style is (apps/lenders/adapters/README.md): its adapter
and its sandbox, both here; tests/lenders/test_registry.py adds its one registry line.

    POST {base_url}/score  X-Toy-Token -> {"ref", "verdict": "yes" | "no", "offers": [...]}
    422 {"errors": [{"field", "message"}]} for invalid data.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST

from apps.lenders.adapters.base import (
    Decision,
    DecisionResult,
    LenderAdapter,
    Offer,
    PrequalifyRequest,
    RejectionCategory,
    TechnicalFailure,
)
from apps.lenders.adapters.embedded import invalid_data
from apps.lenders.adapters.parsing import Unparseable, absolute_url, money, rate, term_months, text
from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox import services, views
from apps.sandbox.styles import ContractData, SandboxStyle

# --- the adapter (apps/lenders/adapters/toy.py) ------------------------------------------------


class ToyAdapter(LenderAdapter):
    key = "toy"
    label = "Toy scoring API (written by a test)"
    sandbox_module = "tests.lenders.toy_style"
    supports_submit = False
    credential_names = ("toy_token",)
    # What it sends beyond identity and income: undeclared, it would never leave (apps/lenders/release.py).
    prequalify_fields = ("birth_date",)
    reads_extra_data = False

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        consumer = request.consumer
        body = {"ref": request.tracking_id, "doc": consumer.document_type, "income": consumer.monthly_income,
                "born": consumer.birth_date or None}
        headers = {"X-Toy-Token": self.credential("toy_token"), "Idempotency-Key": idempotency_key}
        response = self.http.request("POST", "score", json_body=body, headers=headers)
        response.raise_for_transport_status()
        if response.status == 422:
            raise invalid_data(response)
        if response.status != 200:
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        data = response.json_object()
        try:
            return _decision(data, request.tracking_id, consumer.currency)
        except Unparseable as exc:
            raise TechnicalFailure(f"Lender's answer is unparseable: {exc}.", exchange=response.exchange) from None


def _decision(data: dict[str, Any], tracking_id: str, currency: str) -> DecisionResult:
    if data.get("ref") != tracking_id:
        raise Unparseable("ref does not echo ours exactly")
    if data.get("verdict") == "no":
        return DecisionResult(decision=Decision.REJECTED, reason="low_income", reason_code="low_income",
                              reason_category=RejectionCategory.INCOME, raw_response=data)
    if data.get("verdict") != "yes" or not isinstance(data.get("offers"), list):
        raise Unparseable("verdict is neither yes nor no")
    return DecisionResult(decision=Decision.APPROVED, offers=tuple(_offer(raw, currency) for raw in data["offers"]),
                          raw_response=data)


def _offer(raw: dict[str, Any], currency: str) -> Offer:
    offer_id = text(raw.get("offerId"), "offerId", limit=128, required=True)
    if not absolute_url(raw.get("offerUrl")):
        raise Unparseable("offerUrl is not an absolute URL")
    return Offer(lender_offer_id=offer_id, amount=money(raw.get("amount"), "amount"),
                 term_months=term_months(raw.get("termMonths"), "termMonths"),
                 monthly_payment=money(raw.get("monthlyPayment"), "monthlyPayment"),
                 annual_rate=rate(raw.get("annualRate"), "annualRate"), currency=currency, url=raw["offerUrl"])


# --- the sandbox (apps/sandbox/toy.py) ----------------------------------------------------------


def _token_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    if request.headers.get("X-Toy-Token") != lender.credentials.get("toy_token"):
        return JsonResponse({"errors": [{"field": "X-Toy-Token", "message": "Unknown token."}]}, status=401)
    return None


@require_POST
@views.lender_api(ToyAdapter.key, _token_refusal)
def score(request: HttpRequest, lender: Lender) -> HttpResponse:
    payload = views.request_json(request) or {}
    probe = services.sandbox_probe_named(payload, "ref")
    if probe:  # the circuit breaker's probe: a decision, kept nowhere
        return JsonResponse({"ref": probe, "verdict": "no", "offers": []})
    errors = [{"field": "doc", "message": "CC or CE."}] if payload.get("doc") not in ("CC", "CE") else []
    errors += [] if payload.get("born") else [{"field": "born", "message": "Required."}]
    if errors:
        return JsonResponse({"errors": errors}, status=422)
    product = Product.objects.filter(lender=lender, is_active=True).first()
    offers = [] if payload["income"] < services.REJECT_BELOW_INCOME else services.sandbox_offers(
        product=product, income=payload["income"], requested_amount=None,
        offer_url=f"{views.portal_url(request, lender)}?ref=toy",
    )
    return JsonResponse({"ref": payload["ref"], "verdict": "yes" if offers else "no", "offers": offers})


SANDBOX = SandboxStyle(
    key=ToyAdapter.key,
    path="toy",
    urlpatterns=[path("score", score, name="toy-score")],
    credentials=lambda: {"toy_token": secrets.token_hex(8)},
    demo_lender={
        "code": "toy-bank", "name": "Toy Bank",
        "product": {"product_id": "ln_toy_01", "name": "Toy loan", "kind": "personal", "min_amount": 500_000,
                    "max_amount": 5_000_000, "min_term_months": 6, "max_term_months": 24,
                    "min_annual_rate": "0.2000", "max_annual_rate": "0.3000"},
        "listing": {"title": "Toy loan", "tagline": "A test's lender", "highlights": "None"},
        "origins": ["movilco"], "priority": 90, "terms": {"apr": "0.3100"},
        "campaign": {"price_per_lead": 1_000, "budget": 1_000_000, "daily_lead_cap": 10},
        "origin_caps": {},
    },
    contract=ContractData(refused_field="doc"),
)
