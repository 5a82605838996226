"""The sandbox lender of the synchronous offers style (seed 003), at /sandbox/offers/<lender code>/.

    POST oauth/token                    client credentials (the Lender's client_id / client_secret)
    POST marketplace/application/offers/  Bearer -> 200 {referral_code, offers_url, identification, offers, errors}

Authentication and errors as the seed documents them: a bad or expired token is HTTP 401; a
missing partner_source_code is 401 MKTPL-1001 and a wrong one 401 MKTPL-1004 (the Lender's
partner_source_code credential). Everything else is HTTP 200: data-format problems are
MKTPL-1012 with one assertion per bad field (the seed's sub-codes), and business outcomes are
error codes: MKTPL-100 pre-existing customer (an e-mail starting with "existing"), MKTPL-1006
under 18, MKTPL-1007 a region it does not serve (AMA, GUA, VAU), MKTPL-1008 more than 5,000,000
in San Andrés (SAP), MKTPL-1009 no matching offers (monthly income below 1,200,000, or no
affordable amount). Otherwise up to three offers by the embedded sandbox's rules, each with an
APR (rate plus the 3 % origination fee spread over the term) and its own offer_url.

Idempotent by the Idempotency-Key header: a repeat gets the first answer.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from apps.lenders.adapters.offers_api import OffersApiAdapter
from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox import services, views
from apps.sandbox.models import SandboxApplication
from apps.sandbox.styles import ContractData, SandboxStyle
from apps.sandbox.views import lender_api

STYLE = OffersApiAdapter.key

US_DATE = re.compile(r"^(\d{2})[/-](\d{2})[/-](\d{4})$")
STATE = re.compile(r"^[A-Z]{2,3}$")
ZIP = re.compile(r"^\d{5,6}(-\d{4})?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NOT_SERVED = {"AMA", "GUA", "VAU"}
STATE_LIMITS = {"SAP": Decimal("5000000")}
ORIGINATION_FEE = Decimal("0.03")
EMPLOYMENT_STATUS_IDS = {3, 5, 6, 7}
ASSERTIONS = {
    "101": "Loan amount is null or empty, and is required to generate an offer.",
    "103": "Requested loan amount ({0}) is less than the minimum ({1}).",
    "104": "Requested loan amount ({0}) is greater than the maximum ({1}).",
    "141": "First name is null or empty, and is required to generate an offer.",
    "151": "Last name is null or empty, and is required to generate an offer.",
    "171": "Date of birth is null or empty, and is required to generate an offer.",
    "172": 'Date of birth is not a date value: {0}. Please use "MM/dd/yyyy" or "MM-dd-yyyy".',
    "201": "Street is null or empty, and is required to generate an offer.",
    "211": "City is null or empty, and is required to generate an offer.",
    "221": "State is null or empty, and is required to generate an offer.",
    "222": "State contains invalid characters, and is required to generate an offer.",
    "231": "Zipcode is null or empty, and is required to generate an offer.",
    "232": "Zipcode format is not valid, and is required to generate an offer.",
    "242": "Email address is null or empty, and is required to generate an offer.",
    "243": "Applicant's email address is not in a valid format.",
    "281": "Employment status id is null or empty, and is required to generate an offer.",
    "282": "Employment status id must be a valid integer value (Self-employed = 3; Not employed = 5; Other = 6; Employed = 7): {0}.",
    "291": "Yearly income is null or empty, and is required to generate an offer.",
}
BUSINESS = {
    "MKTPL-100": "Pre-existing customer.",
    "MKTPL-1006": "The applicant does not meet the minimum age requirement.",
    "MKTPL-1007": "Prosper does not conduct business in the state where the applicant resides.",
    "MKTPL-1008": "The amount requested exceeds Prosper's limits for the state where the applicant resides.",
    "MKTPL-1009": "Based on the information presented, Prosper could not find any matching offers.",
}


def _object(payload: dict, name: str) -> dict:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def partner_code_error(*, lender: Lender, payload: Any) -> services.SandboxAnswer | None:
    """401 MKTPL-1001 / 1004 for a missing or wrong partner_source_code."""
    code = _object(payload, "identification").get("partner_source_code") if isinstance(payload, dict) else None
    expected = str((lender.credentials or {}).get("partner_source_code") or "")
    if not code:
        return services.SandboxAnswer(401, {"errors": [{"code": "MKTPL-1001", "message": "The partner source code is missing."}]})
    if not expected or not secrets.compare_digest(expected, str(code)):
        return services.SandboxAnswer(401, {"errors": [{"code": "MKTPL-1004", "message": (
            "Unauthorized access, the submitted partner source code is invalid (either expired or incorrect).")}]})
    return None


def _assertions(payload: dict, product: Product) -> list[dict[str, str]]:
    found: list[tuple[str, tuple]] = []
    amount = _object(payload, "loan_info").get("loan_amount")
    if amount is None:
        found.append(("101", ()))
    elif isinstance(amount, (int, float)) and not isinstance(amount, bool):
        if Decimal(str(amount)) < product.min_amount:
            found.append(("103", (amount, product.min_amount)))
        elif Decimal(str(amount)) > product.max_amount:
            found.append(("104", (amount, product.max_amount)))
    personal, address = _object(payload, "personal_info"), _object(payload, "address_info")
    contact, employment = _object(payload, "contact_info"), _object(payload, "employment_info")
    found += [(code, ()) for code, value in (("141", personal.get("first_name")), ("151", personal.get("last_name")),
                                              ("201", address.get("street")), ("211", address.get("city"))) if not value]
    dob = personal.get("date_of_birth")
    if not dob:
        found.append(("171", ()))
    elif not (isinstance(dob, str) and US_DATE.match(dob) and _date(dob)):
        found.append(("172", (dob,)))
    state, zip_code, email = address.get("state"), address.get("zip_code"), contact.get("email")
    found += [("221", ())] if not state else ([] if isinstance(state, str) and STATE.match(state) else [("222", ())])
    found += [("231", ())] if not zip_code else ([] if isinstance(zip_code, str) and ZIP.match(zip_code) else [("232", ())])
    found += [("242", ())] if not email else ([] if isinstance(email, str) and EMAIL.match(email) else [("243", ())])
    status = employment.get("employment_status_id")
    found += [("281", ())] if status is None else ([] if status in EMPLOYMENT_STATUS_IDS else [("282", (status,))])
    if not employment.get("annual_income"):
        found.append(("291", ()))
    return [{"code": f"MKTPL-1012-{code}", "message": ASSERTIONS[code].format(*args)} for code, args in found]


def _date(value: str) -> date | None:
    month, day, year = US_DATE.match(value).groups()
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _business_code(payload: dict) -> str | None:
    born = _date(_object(payload, "personal_info")["date_of_birth"])
    today = date.today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    state = _object(payload, "address_info")["state"]
    amount = Decimal(str(_object(payload, "loan_info")["loan_amount"]))
    if str(_object(payload, "contact_info")["email"]).lower().startswith("existing"):
        return "MKTPL-100"
    if age < 18:
        return "MKTPL-1006"
    if state in NOT_SERVED:
        return "MKTPL-1007"
    if amount > STATE_LIMITS.get(state, amount):
        return "MKTPL-1008"
    if _object(payload, "employment_info")["annual_income"] // 12 < services.REJECT_BELOW_INCOME:
        return "MKTPL-1009"
    return None


def _offers(product: Product, payload: dict, referral: str, portal_url: str) -> list[dict[str, Any]]:
    income = int(_object(payload, "employment_info")["annual_income"]) // 12
    requested = Decimal(str(_object(payload, "loan_info")["loan_amount"]))
    offers = services.sandbox_offers(product=product, income=income, requested_amount=requested,
                                     offer_url=f"{portal_url}?ref={referral}")
    result = []
    for number, offer in enumerate(offers, start=1):
        amount, term, rate = Decimal(str(offer["amount"])), offer["termMonths"], Decimal(str(offer["annualRate"]))
        fee = (amount * ORIGINATION_FEE).quantize(Decimal("0.01"))
        apr = (rate + ORIGINATION_FEE * 12 / term).quantize(Decimal("0.0001"))
        result.append({
            "id": 309000 + number, "apr": float(apr), "loan_amount": int(amount), "loan_rate": float(rate),
            "loan_term_in_months": term, "loan_term_in_years": max(1, term // 12), "origination_fee": float(fee),
            "monthly_payment": offer["monthlyPayment"], "offer_url": f"{portal_url}?ref={referral}&offer={309000 + number}",
        })
    return result


def sandbox_offers_answer(*, lender: Lender, payload: Any, idempotency_key: str, portal_url: str) -> services.SandboxAnswer:
    """POST marketplace/application/offers/ once authenticated (token and partner code); a probe
    gets no offers (MKTPL-1009), kept nowhere."""
    if services.sandbox_probe_named(payload, "identification", "client_reference_id"):
        return services.SandboxAnswer(200, {"offers": [], "errors": [{"code": "MKTPL-1009", "message": BUSINESS["MKTPL-1009"]}]})
    product = Product.objects.filter(lender=lender, is_active=True).order_by("id").first()
    if not isinstance(payload, dict) or product is None:
        return services.SandboxAnswer(400, {"errors": [{"code": "MKTPL-400", "message": "Body must be a JSON object."}]})
    key = idempotency_key or str(_object(payload, "identification").get("client_reference_id") or "")
    existing = SandboxApplication.objects.filter(lender=lender, tracking_id=key).first() if key else None
    knobs = services.sandbox_settings_for(lender)
    if existing is not None:
        body = existing.decision_body
        return services.SandboxAnswer(200, {**body, "referral_code": services.sandbox_repeat_reference(
            knobs, body["referral_code"])})
    assertions = _assertions(payload, product)
    identification = _object(payload, "identification")
    if assertions:
        return services.SandboxAnswer(200, {"identification": identification, "offers": [], "errors": [{
            "code": "MKTPL-1012", "message": "The applicant's data was missing or not formatted correctly.",
            "assertions": assertions}]})
    referral = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
    code = _business_code(payload)
    offers = [] if code else _offers(product, payload, referral, portal_url)
    if not code and not offers:
        code = "MKTPL-1009"
    if code and services.sandbox_rejection_as_error(knobs):
        return services.sandbox_rejection_as_error(knobs)
    body = {"referral_code": referral, "offers_url": f"{portal_url}?ref={referral}", "identification": identification,
            "offers": offers, "errors": [{"code": code, "message": BUSINESS[code]}] if code else []}
    if key:
        try:
            with transaction.atomic():
                SandboxApplication.objects.create(
                    lender=lender, tracking_id=key, application_ref=referral, product_id=product.product_id,
                    decision="rejected" if code else "approved", decision_body=body,
                )
        except IntegrityError:  # a concurrent repeat stored its answer first: that one is the answer
            return services.SandboxAnswer(200, SandboxApplication.objects.get(lender=lender, tracking_id=key).decision_body)
    return services.SandboxAnswer(200, body)


# --- the API --------------------------------------------------------------------------------


@require_GET
@lender_api(STYLE, views.bearer_refusal)
def health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@lender_api(STYLE, views.bearer_refusal)
def offers(request: HttpRequest, lender: Lender) -> HttpResponse:
    payload = views.request_json(request)
    refusal = partner_code_error(lender=lender, payload=payload)
    if refusal is not None:
        return views.json_answer(refusal)
    return views.json_answer(sandbox_offers_answer(
        lender=lender, payload=payload, idempotency_key=request.headers.get("Idempotency-Key", ""),
        portal_url=views.portal_url(request, lender),
    ))


SANDBOX = SandboxStyle(
    key=STYLE,
    path="offers",
    urlpatterns=[
        path("", health, name="offers-health"),
        path("oauth/token", views.token, {"style": STYLE}, name="offers-token"),
        path("marketplace/application/offers/", offers, name="offers-offers"),
    ],
    credentials=lambda: {"client_id": f"sbx-client-{secrets.token_hex(4)}", "client_secret": secrets.token_urlsafe(24),
                         "partner_source_code": f"PSC-{secrets.token_hex(6).upper()}"},
    demo_lender={
        "code": "credirapido", "name": "CrediRápido",
        "product": {"product_id": "ln_micro_01", "name": "Microcrédito al instante", "name_en": "Instant microloan", "kind": "micro",
                    "min_amount": 300_000, "max_amount": 5_000_000, "min_term_months": 3, "max_term_months": 24,
                    "min_annual_rate": "0.2600", "max_annual_rate": "0.3800"},
        "listing": {"title": "Microcrédito CrediRápido", "tagline": "Desde $300.000 para lo que necesites",
                    "highlights": "Sin historial crediticio\nTodo desde el celular",
                    "title_en": "CrediRápido microloan", "tagline_en": "From COP 300,000 for whatever you need",
                    "highlights_en": "No credit history needed\nAll from your phone"},
        "origins": ["movilco"], "priority": 30,
        "terms": {"apr": "0.4100", "opening_fee": 25_000},
        "campaign": {"price_per_lead": 6_000, "price_per_approved": 20_000, "budget": 15_000_000,
                     "daily_lead_cap": 500},
        "origin_caps": {"movilco": {"daily_lead_cap": 500, "total_lead_cap": 50_000}},
    },
    # A missing birth date is MKTPL-1012 with assertion 171 (the document type is not sent).
    contract=ContractData(refused_field="MKTPL-1012-171"),
)
