"""The sandbox lender of the embedded style (seed 001), at /sandbox/embedded/<lender code>/.

    POST decisions              X-Api-Key -> {"trackingId", "decision", "offers", "reason"?, "applicationRef"}
    GET  decisions/<trackingId> X-Api-Key -> the decision as it stands now
    POST applications           X-Api-Key -> {"trackingId", "status": "submitted", "redirectUrl"}
    422 {"errors": [{"field", "message"}]} for invalid data.

Decisions follow the offer rules every sandbox shares (apps/sandbox/services.py): below
1,200,000 of monthly income `rejected`, reason `consumer_not_eligible`; an income ending in 777
`pending`, reason `manual_review`, which resolves to what the other rules decide
`pending_seconds` after the first call, as seen by `GET decisions/<trackingId>` or a repeated
POST; otherwise `approved` with up to 3 offers, or `rejected` with
`insufficient_payment_capacity` when no offer reaches the product's minimum amount.

With the `pending_then_resolve` knob every decision answers `pending` first and resolves to
what the rules decide, `pending_seconds` later. With `callback_delay_seconds` set, the sandbox
also POSTs the resolved decision (the same body as GET decisions/<trackingId>) to the
platform's callback URL for this lender that long after it resolves, retrying non-2xx answers.

Idempotency: the first answer for a (lender, trackingId) is stored and returned on every
repeat, and the application answer likewise, with the same redirectUrl.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.lenders.adapters.embedded import EmbeddedFlowAdapter
from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox import services, views
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from apps.sandbox.styles import ContractData, SandboxStyle
from apps.sandbox.views import lender_api

STYLE = EmbeddedFlowAdapter.key


# --- decisions ------------------------------------------------------------------------------


def field_errors(*pairs: tuple[str, str]) -> services.SandboxAnswer:
    return services.SandboxAnswer(422, {"errors": [{"field": field, "message": message} for field, message in pairs]})


def _validate_identity(consumer: Any, product: Product | None) -> list[tuple[str, str]]:
    if not isinstance(consumer, dict):
        return [("consumer", "Required: an object with the consumer's identity and income.")]
    errors = []
    if consumer.get("documentType") not in services.DOCUMENT_TYPES:
        errors.append(("consumer.documentType", f"Must be one of {', '.join(sorted(services.DOCUMENT_TYPES))}."))
    number = consumer.get("documentNumber")
    if not (isinstance(number, str) and number.isalnum() and 3 <= len(number) <= 20):
        errors.append(("consumer.documentNumber", "Required: 3 to 20 letters or digits."))
    name = consumer.get("fullName")
    if not (isinstance(name, str) and 2 <= len(name.strip()) <= 120):
        errors.append(("consumer.fullName", "Required: 2 to 120 characters."))
    income = consumer.get("monthlyIncome")
    if isinstance(income, bool) or not isinstance(income, int) or not 0 < income < 10**12:
        errors.append(("consumer.monthlyIncome", "Required: a whole positive amount."))
    if product is not None and consumer.get("currency") != product.currency:
        errors.append(("consumer.currency", f"This product lends in {product.currency}."))
    return errors


def _validate_decision_request(lender: Lender, payload: Any) -> tuple[list[tuple[str, str]], Product | None]:
    if not isinstance(payload, dict):
        return [("body", "Must be a JSON object.")], None
    errors = []
    tracking_id = payload.get("trackingId")
    if not (isinstance(tracking_id, str) and 1 <= len(tracking_id) <= 255):
        errors.append(("trackingId", "Required: 1 to 255 characters."))
    product = Product.objects.filter(lender=lender, product_id=payload.get("productId"), is_active=True).first()
    if product is None:
        errors.append(("productId", "Not a product of this lender."))
    requested = payload.get("requestedAmount")
    if requested is not None and product is not None:
        if isinstance(requested, bool) or not isinstance(requested, (int, float)) or not (
            product.min_amount <= Decimal(str(requested)) <= product.max_amount
        ):
            errors.append(("requestedAmount", f"Must be between {product.min_amount:f} and {product.max_amount:f}."))
    return errors + _validate_identity(payload.get("consumer"), product), product


def sandbox_decide(
    *, lender: Lender, payload: Any, portal_url: str, knobs: SandboxLenderSettings | None = None
) -> services.SandboxAnswer:
    """POST /decisions: the stored answer for this trackingId, or a new one by the rules (a probe's:
    a rejection, kept nowhere)."""
    probe = services.sandbox_probe_named(payload, "trackingId")
    if probe:
        return services.SandboxAnswer(200, _rejection(probe, "PROBE", "probe"))
    errors, product = _validate_decision_request(lender, payload)
    if errors:
        return field_errors(*errors)
    # A repeated trackingId is found by the insert below (the unique constraint), not by a query
    # first: the first answer is returned again either way, and a new one costs one query less.
    tracking_id = payload["trackingId"]
    ref = f"APP-{secrets.token_hex(5).upper()}"
    income = payload["consumer"]["monthlyIncome"]
    requested = payload.get("requestedAmount")
    approval = _approval(
        tracking_id, ref, services.sandbox_offers(
            product=product, income=income, requested_amount=Decimal(str(requested)) if requested else None,
            offer_url=f"{portal_url}?ref={ref}",
        ),
    )
    final = _rejection(tracking_id, ref, "consumer_not_eligible") if income < services.REJECT_BELOW_INCOME else approval
    fields: dict[str, Any] = {"product_id": product.product_id, "decision": final["decision"], "decision_body": final}
    knobs = knobs or services.sandbox_settings_for(lender)
    pending = str(income).endswith(services.PENDING_SUFFIX) or knobs.pending_then_resolve
    if final["decision"] == "rejected" and not pending and services.sandbox_rejection_as_error(knobs):
        return services.sandbox_rejection_as_error(knobs)
    if pending:
        fields.update(
            decision="pending", resolves_at=timezone.now() + timedelta(seconds=knobs.pending_seconds), resolution_body=final,
            decision_body={"trackingId": tracking_id, "decision": "pending", "reason": "manual_review",
                           "applicationRef": ref, "offers": []},
        )
    try:
        with transaction.atomic():
            application = SandboxApplication.objects.create(
                lender=lender, tracking_id=tracking_id, application_ref=ref, **fields
            )
    except IntegrityError:  # a repeat, or the same trackingId twice at once: the first one wins.
        application = SandboxApplication.objects.get(lender=lender, tracking_id=tracking_id)
        body = _current_decision(application)
        return services.SandboxAnswer(200, {**body, "applicationRef": services.sandbox_repeat_reference(
            knobs, body["applicationRef"], prefix="APP-")})
    if application.decision == "pending":
        services.sandbox_callback_schedule(lender=lender, knobs=knobs, body=application.resolution_body,
                                  after_seconds=knobs.pending_seconds)
    return services.SandboxAnswer(200, application.decision_body)


def _approval(tracking_id: str, ref: str, offers: list[dict]) -> dict[str, Any]:
    if not offers:
        return _rejection(tracking_id, ref, "insufficient_payment_capacity")
    return {"trackingId": tracking_id, "decision": "approved", "offers": offers, "applicationRef": ref}


def _rejection(tracking_id: str, ref: str, reason: str) -> dict[str, Any]:
    return {"trackingId": tracking_id, "decision": "rejected", "reason": reason, "applicationRef": ref, "offers": []}


def _current_decision(application: SandboxApplication) -> dict[str, Any]:
    """The stored answer; a pending one turns into its resolution once its time has come."""
    if application.decision == "pending" and application.resolves_at and application.resolves_at <= timezone.now():
        SandboxApplication.objects.filter(pk=application.pk, decision="pending").update(
            decision=application.resolution_body["decision"], decision_body=application.resolution_body,
            updated_at=timezone.now(),
        )
        application.refresh_from_db()
    return application.decision_body


def sandbox_decision_get(*, lender: Lender, tracking_id: str) -> services.SandboxAnswer:
    """GET /decisions/<trackingId>: the decision's current state."""
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=tracking_id).first()
    if application is None:
        return services.SandboxAnswer(404, {"errors": [{"field": "trackingId", "message": "No decision for this trackingId."}]})
    return services.SandboxAnswer(200, _current_decision(application))


# --- applications ---------------------------------------------------------------------------


def sandbox_apply(*, lender: Lender, payload: Any, portal_url: str) -> services.SandboxAnswer:
    """POST /applications: the redirect to the portal, the same one on every repeat."""
    if not isinstance(payload, dict):
        return field_errors(("body", "Must be a JSON object."))
    tracking_id = payload.get("trackingId")
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=tracking_id).first()
    if not isinstance(tracking_id, str) or application is None:
        return field_errors(("trackingId", "No decision for this trackingId: ask for a decision first."))
    if application.application_body:
        return services.SandboxAnswer(200, application.application_body)
    errors = _validate_application(application, payload)
    if errors:
        return field_errors(*errors)
    body = {"trackingId": tracking_id, "status": "submitted", "redirectUrl": f"{portal_url}?ref={application.application_ref}"}
    updated = SandboxApplication.objects.filter(pk=application.pk, application_body__isnull=True).update(
        application_body=body, updated_at=timezone.now()
    )
    if not updated:  # a concurrent repeat stored its answer first: that one is the answer.
        application.refresh_from_db()
        return services.SandboxAnswer(200, application.application_body)
    return services.SandboxAnswer(201, body)


def _validate_application(application: SandboxApplication, payload: dict) -> list[tuple[str, str]]:
    decision = _current_decision(application)
    if decision["decision"] != "approved":
        return [("trackingId", f"The decision for this trackingId is {decision['decision']}.")]
    errors = []
    offer_ids = {offer["offerId"] for offer in decision.get("offers", [])}
    if payload.get("selectedOfferId") not in offer_ids:
        errors.append(("selectedOfferId", "Not one of the offers made for this trackingId."))
    reference = payload.get("lenderApplicationRef")
    if reference is not None and reference != application.application_ref:
        errors.append(("lenderApplicationRef", "Does not match this trackingId's application."))
    consumer = payload.get("consumer")
    errors += _validate_identity(consumer, None)
    if isinstance(consumer, dict):
        email = consumer.get("email")
        if not (isinstance(email, str) and 3 <= len(email) <= 254 and "@" in email.strip("@")):
            errors.append(("consumer.email", "Required: an email address."))
        if not (isinstance(consumer.get("phone"), str) and services.PHONE.match(consumer["phone"])):
            errors.append(("consumer.phone", "Required: 7 to 15 digits, optionally after a +."))
    return errors


# --- the API --------------------------------------------------------------------------------


@require_GET
@lender_api(STYLE, views.api_key_refusal)
def health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@lender_api(STYLE, views.api_key_refusal)
def decisions(request: HttpRequest, lender: Lender) -> HttpResponse:
    answer = sandbox_decide(lender=lender, payload=views.request_json(request),
                            portal_url=views.portal_url(request, lender), knobs=request.sandbox_knobs)
    return views.json_answer(answer)


@require_GET
@lender_api(STYLE, views.api_key_refusal)
def decision_detail(request: HttpRequest, lender: Lender, tracking_id: str) -> HttpResponse:
    return views.json_answer(sandbox_decision_get(lender=lender, tracking_id=tracking_id))


@require_POST
@lender_api(STYLE, views.api_key_refusal)
def applications(request: HttpRequest, lender: Lender) -> HttpResponse:
    answer = sandbox_apply(lender=lender, payload=views.request_json(request), portal_url=views.portal_url(request, lender))
    return views.json_answer(answer)


SANDBOX = SandboxStyle(
    key=STYLE,
    path="embedded",
    urlpatterns=[
        path("", health, name="embedded-health"),
        path("decisions", decisions, name="embedded-decisions"),
        path("decisions/<path:tracking_id>", decision_detail, name="embedded-decision"),
        path("applications", applications, name="embedded-applications"),
    ],
    credentials=lambda: {"api_key": f"sandbox-{secrets.token_hex(8)}"},
    demo_lender={
        "code": "banco-andino", "name": "Banco Andino",
        "product": {"product_id": "ln_personal_01", "name": "Crédito de libre inversión", "name_en": "Personal loan",
                    "kind": "personal",
                    "min_amount": 1_000_000, "max_amount": 30_000_000, "min_term_months": 12, "max_term_months": 60,
                    "min_annual_rate": "0.1990", "max_annual_rate": "0.2890"},
        "listing": {"title": "Libre inversión Banco Andino", "tagline": "Hasta $30 millones, respuesta en segundos",
                    "highlights": "Sin codeudor\nPlazos de 12 a 60 meses\nDesembolso en 24 horas",
                    "title_en": "Banco Andino personal loan", "tagline_en": "Up to COP 30 million, an answer in seconds",
                    "highlights_en": "No co-signer\nTerms from 12 to 60 months\nMoney in your account within 24 hours",
                    "example_amount": 10_000_000, "example_term_months": 36},
        "origins": ["movilco", "billeteraya"], "priority": 10,
        "terms": {"apr": "0.3050", "monthly_fee": 4_500, "document_types": ["CC", "CE"]},
        "campaign": {"price_per_lead": 12_000, "price_per_approved": 45_000, "price_per_disbursed": 150_000,
                     "budget": 60_000_000, "daily_lead_cap": 400, "document_types": ["CC", "CE"]},
        "origin_caps": {"billeteraya": {"daily_lead_cap": 150}},
    },
    contract=ContractData(refused_field="consumer.documentType"),
)
