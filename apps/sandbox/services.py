"""The sandbox lender of the embedded style: its decision rules, its idempotency, its knobs.

Decision rules (deterministic, by monthlyIncome in the product's currency):

- below 1,200,000: `rejected`, reason `consumer_not_eligible`;
- ending in 777 (e.g. 2,500,777): `pending`, reason `manual_review`; it resolves to what the
  other rules decide `pending_seconds` after the first call, as seen by
  `GET /decisions/<trackingId>` or a repeated POST;
- otherwise `approved` with up to 3 offers, one per term: the product's shortest, middle and
  longest. The consumer can pay 30 % of income a month; the rate is the product's lowest from
  6,000,000 of income, its highest below 2,500,000, the middle of its range in between; each
  amount is what that payment repays over the term (annuity formula, rounded down to 10,000),
  kept within the product's amount range and within requestedAmount when given; the monthly
  payment is then recomputed for that amount by the annuity formula. Offers below the product's
  minimum amount are dropped; if none is left, `rejected` with `insufficient_payment_capacity`.

With the `pending_then_resolve` knob every decision answers `pending` first and resolves to
what the rules above decide, `pending_seconds` later. With `callback_delay_seconds` set, the
sandbox also POSTs the resolved decision (the same body as GET /decisions/<trackingId>) to the
platform's callback URL for this lender that long after it resolves, retrying non-2xx answers.

Idempotency: the first answer for a (lender, trackingId) is stored and returned on every
repeat, and the application answer likewise, with the same redirectUrl.

The other styles' sandbox lenders live beside this module (async_lead.py, offers_api.py,
mapped_json.py) and share the knobs, the failure script, the OAuth2 tokens and the callbacks
kept here.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import requests
from django.core.cache import cache
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.lenders.models import Lender
from apps.products.models import Product
from apps.products.selectors import annuity_installment, monthly_rate_from_annual
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings, is_known_step, parse_failure_script
from prosperas.inbound.signing import signed_headers

REJECT_BELOW_INCOME = 1_200_000
LOW_INCOME = 2_500_000
HIGH_INCOME = 6_000_000
PENDING_SUFFIX = "777"
PAYMENT_SHARE = Decimal("0.30")
AMOUNT_STEP = Decimal("10000")
DOCUMENT_TYPES = {"CC", "CE", "TI", "PA", "PPT", "NIT"}
POSTBACK_STATUSES = ("pre_approved", "approved", "disbursed", "rejected", "cancelled")
POSTBACK_TIMEOUT_SECONDS = 10
PHONE = re.compile(r"^\+?\d{7,15}$")
CALLBACK_ATTEMPTS = 5
CALLBACK_RETRY_SECONDS = 1.0
CALLBACK_TIMEOUT_SECONDS = 10
TOKEN_CACHE_PREFIX = "sandbox-token:"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxAnswer:
    status: int
    body: dict[str, Any]


def field_errors(*pairs: tuple[str, str]) -> SandboxAnswer:
    return SandboxAnswer(422, {"errors": [{"field": field, "message": message} for field, message in pairs]})


# --- knobs ----------------------------------------------------------------------------------


def sandbox_settings_for(lender: Lender) -> SandboxLenderSettings:
    settings_row, _ = SandboxLenderSettings.objects.get_or_create(lender=lender)
    return settings_row


def sandbox_lender_for(*, code: str, style: str) -> tuple[Lender | None, SandboxLenderSettings | None]:
    """The sandbox lender a request names and its knobs (None if it has none yet), in one query:
    a fan-out sends a hundred requests at once to the same server."""
    lender = Lender.objects.select_related("sandbox_settings").filter(code=code, adapter=style).first()
    if lender is None:
        return None, None
    try:
        return lender, lender.sandbox_settings
    except SandboxLenderSettings.DoesNotExist:
        return lender, None


def sandbox_script_step(
    *, lender: Lender, knobs: SandboxLenderSettings | None = None
) -> tuple[str, SandboxLenderSettings]:
    """Consume the next failure-script step ("ok" when the script is empty), under a row lock,
    so concurrent calls each take their own step. With no script, one update and no lock.
    `knobs`: the lender's settings row when the caller has just read it."""
    row = knobs or sandbox_settings_for(lender)
    if not row.failure_script:
        SandboxLenderSettings.objects.filter(pk=row.pk).update(calls_received=F("calls_received") + 1)
        return "ok", row
    return _script_step_consume(lender)


@transaction.atomic
def _script_step_consume(lender: Lender) -> tuple[str, SandboxLenderSettings]:
    row = SandboxLenderSettings.objects.select_for_update().get(lender=lender)
    steps = parse_failure_script(row.failure_script)
    step = steps.pop(0) if steps else "ok"
    row.failure_script = ", ".join(steps)
    row.calls_received += 1
    row.save(update_fields=["failure_script", "calls_received", "updated_at"])
    if step == "200" or not is_known_step(step):
        step = "ok"
    return step, row


# --- OAuth2 tokens (async and offers styles) -------------------------------------------------


def sandbox_token_issue(*, lender: Lender, form: Any) -> SandboxAnswer:
    """POST <token path>: a bearer token for the lender's client_id / client_secret (RFC 6749)."""
    credentials = lender.credentials or {}
    if form.get("grant_type") != "client_credentials":
        return SandboxAnswer(400, {"error": "unsupported_grant_type"})
    expected_id, expected_secret = str(credentials.get("client_id") or ""), str(credentials.get("client_secret") or "")
    if not (expected_id and expected_secret and secrets.compare_digest(expected_id, str(form.get("client_id") or ""))
            and secrets.compare_digest(expected_secret, str(form.get("client_secret") or ""))):
        return SandboxAnswer(401, {"error": "invalid_client"})
    knobs = sandbox_settings_for(lender)
    token = f"sbx_{secrets.token_urlsafe(24)}"
    cache.set(TOKEN_CACHE_PREFIX + token, lender.code, timeout=knobs.token_ttl_seconds)
    SandboxLenderSettings.objects.filter(pk=knobs.pk).update(tokens_issued=F("tokens_issued") + 1)
    return SandboxAnswer(200, {"access_token": token, "token_type": "bearer", "expires_in": knobs.token_ttl_seconds})


def sandbox_token_valid(*, lender: Lender, authorization: str) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token) and cache.get(TOKEN_CACHE_PREFIX + token.strip()) == lender.code


def sandbox_tokens_revoke(*, lender: Lender, token: str) -> None:
    """Revoke one token early (tests: the platform must refresh on the 401 that follows)."""
    if cache.get(TOKEN_CACHE_PREFIX + token) == lender.code:
        cache.delete(TOKEN_CACHE_PREFIX + token)


# --- callbacks (sandbox lender → platform) --------------------------------------------------


def sandbox_callback_url(*, lender: Lender, knobs: SandboxLenderSettings) -> str:
    from apps.lenders.services import lender_callback_url

    return knobs.callback_url or lender_callback_url(lender)


def sandbox_callback_schedule(*, lender: Lender, knobs: SandboxLenderSettings, body: dict, after_seconds: float) -> None:
    """When the callback knob is set: POST `body` to the platform's callback URL once the
    decision has resolved plus the callback delay, from a background thread that holds no
    database connection while it waits. Non-2xx answers are retried, as the lender would."""
    if knobs.callback_delay_seconds is None:
        return
    url = sandbox_callback_url(lender=lender, knobs=knobs)
    delay = max(0.0, after_seconds) + knobs.callback_delay_seconds
    thread = threading.Thread(target=_callback_send, args=(url, json.dumps(body).encode(), delay, knobs.pk), daemon=True)
    thread.start()


def _callback_send(url: str, raw: bytes, delay: float, knobs_id: int) -> None:
    time.sleep(delay)
    for attempt in range(CALLBACK_ATTEMPTS):
        try:
            status = requests.post(url, data=raw, headers={"Content-Type": "application/json"},
                                   timeout=CALLBACK_TIMEOUT_SECONDS, allow_redirects=False).status_code
        except requests.RequestException:
            status = 0
        if 200 <= status < 300:
            break
        time.sleep(CALLBACK_RETRY_SECONDS * (attempt + 1))
    try:
        close_old_connections()
        SandboxLenderSettings.objects.filter(pk=knobs_id).update(callbacks_sent=F("callbacks_sent") + 1)
    except Exception:  # noqa: BLE001 - a counter, in a thread: the database may be gone (tests)
        logger.info("sandbox callback counter not updated")
    finally:
        connection.close()


# --- decisions ------------------------------------------------------------------------------


# Rates are effective annual (E.A.), as the products quote them and Colombian lenders do: the
# monthly rate is the one that compounds to it, (1 + E.A.)^(1/12) − 1, the same as the catalog's
# representative example uses (apps.products.selectors).


def annuity_payment(amount: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    return annuity_installment(amount=amount, monthly_rate=monthly_rate_from_annual(annual_rate), term_months=months)


def annuity_present_value(payment: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    monthly = monthly_rate_from_annual(annual_rate)
    if monthly == 0:
        return payment * months
    return payment * (1 - (1 + monthly) ** -months) / monthly


def offer_rate(product: Product, income: int) -> Decimal:
    if income >= HIGH_INCOME:
        return product.min_annual_rate
    if income < LOW_INCOME:
        return product.max_annual_rate
    return ((product.min_annual_rate + product.max_annual_rate) / 2).quantize(Decimal("0.0001"))


def sandbox_offers(*, product: Product, income: int, requested_amount: Decimal | None, offer_url: str) -> list[dict]:
    """Up to three offers for this income (rules in the module docstring)."""
    rate = offer_rate(product, income)
    capacity = Decimal(income) * PAYMENT_SHARE
    terms = sorted({product.min_term_months, (product.min_term_months + product.max_term_months) // 2, product.max_term_months})
    ceiling = min(product.max_amount, requested_amount) if requested_amount else product.max_amount
    offers = []
    for term in terms:
        affordable = (annuity_present_value(capacity, rate, term) / AMOUNT_STEP).to_integral_value(ROUND_DOWN) * AMOUNT_STEP
        amount = min(affordable, ceiling)
        if amount < product.min_amount:
            continue
        offer_id = f"OF-{len(offers) + 1:03d}"
        offers.append({
            "offerId": offer_id,
            "amount": int(amount) if amount == amount.to_integral_value() else float(amount),
            "termMonths": term,
            "monthlyPayment": float(annuity_payment(amount, rate, term)),
            "annualRate": float(rate),
            "currency": product.currency,
            "offerUrl": f"{offer_url}&offer={offer_id}",
        })
    return offers


def _validate_identity(consumer: Any, product: Product | None) -> list[tuple[str, str]]:
    if not isinstance(consumer, dict):
        return [("consumer", "Required: an object with the consumer's identity and income.")]
    errors = []
    if consumer.get("documentType") not in DOCUMENT_TYPES:
        errors.append(("consumer.documentType", f"Must be one of {', '.join(sorted(DOCUMENT_TYPES))}."))
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
) -> SandboxAnswer:
    """POST /decisions: the stored answer for this trackingId, or a new one by the rules."""
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
        tracking_id, ref, sandbox_offers(
            product=product, income=income, requested_amount=Decimal(str(requested)) if requested else None,
            offer_url=f"{portal_url}?ref={ref}",
        ),
    )
    final = _rejection(tracking_id, ref, "consumer_not_eligible") if income < REJECT_BELOW_INCOME else approval
    fields: dict[str, Any] = {"product_id": product.product_id, "decision": final["decision"], "decision_body": final}
    knobs = knobs or sandbox_settings_for(lender)
    if str(income).endswith(PENDING_SUFFIX) or knobs.pending_then_resolve:
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
        return SandboxAnswer(200, _current_decision(application))
    if application.decision == "pending":
        sandbox_callback_schedule(lender=lender, knobs=knobs, body=application.resolution_body,
                                  after_seconds=knobs.pending_seconds)
    return SandboxAnswer(200, application.decision_body)


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


def sandbox_decision_get(*, lender: Lender, tracking_id: str) -> SandboxAnswer:
    """GET /decisions/<trackingId>: the decision's current state."""
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=tracking_id).first()
    if application is None:
        return SandboxAnswer(404, {"errors": [{"field": "trackingId", "message": "No decision for this trackingId."}]})
    return SandboxAnswer(200, _current_decision(application))


# --- applications ---------------------------------------------------------------------------


def sandbox_apply(*, lender: Lender, payload: Any, portal_url: str) -> SandboxAnswer:
    """POST /applications: the redirect to the portal, the same one on every repeat."""
    if not isinstance(payload, dict):
        return field_errors(("body", "Must be a JSON object."))
    tracking_id = payload.get("trackingId")
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=tracking_id).first()
    if not isinstance(tracking_id, str) or application is None:
        return field_errors(("trackingId", "No decision for this trackingId: ask for a decision first."))
    if application.application_body:
        return SandboxAnswer(200, application.application_body)
    errors = _validate_application(application, payload)
    if errors:
        return field_errors(*errors)
    body = {"trackingId": tracking_id, "status": "submitted", "redirectUrl": f"{portal_url}?ref={application.application_ref}"}
    updated = SandboxApplication.objects.filter(pk=application.pk, application_body__isnull=True).update(
        application_body=body, updated_at=timezone.now()
    )
    if not updated:  # a concurrent repeat stored its answer first: that one is the answer.
        application.refresh_from_db()
        return SandboxAnswer(200, application.application_body)
    return SandboxAnswer(201, body)


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
        if not (isinstance(consumer.get("phone"), str) and PHONE.match(consumer["phone"])):
            errors.append(("consumer.phone", "Required: 7 to 15 digits, optionally after a +."))
    return errors


# --- the portal's postback ------------------------------------------------------------------


def sandbox_postback_send(*, lender: Lender, click_id: str, status: str, product_id: str, url: str) -> SandboxAnswer:
    """Send one postback as the lender would: signed (or with its bearer key), click_id as received."""
    body: dict[str, Any] = {
        "click_id": click_id,
        "status": status,
        "event_id": f"sbx-{secrets.token_hex(8)}",
        "occurred_at": timezone.now().isoformat(timespec="seconds"),
    }
    if product_id:
        body["product_id"] = product_id
    raw = json.dumps(body, ensure_ascii=False).encode()
    if lender.postback_auth == Lender.PostbackAuth.API_KEY:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {lender.postback_secret}"}
    else:
        headers = signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw)
    try:
        response = requests.post(url, data=raw, headers=headers, timeout=POSTBACK_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        return SandboxAnswer(0, {"error": f"The postback could not be sent: {type(exc).__name__}."})
    try:
        answer = response.json()
    except ValueError:
        answer = {"non_json_body": response.text[:2000]}
    return SandboxAnswer(response.status_code, answer if isinstance(answer, dict) else {"body": answer})


# --- setting up a sandbox lender of any style (demo data, tests) -------------------------------

SANDBOX_PATHS = {"embedded": "embedded", "async_lead": "async", "offers_api": "offers", "mapped_json": "mapped"}


def sandbox_lender_prepare(*, lender: Lender, site_url: str) -> None:
    """Point `lender` at the sandbox of its adapter's style on `site_url`, give it the
    credentials that sandbox checks (kept when already set) and, for a mapped JSON lender, the
    description of the mapped sandbox's API. The caller saves nothing else: this saves."""
    from apps.lenders.models import MappedApi
    from apps.sandbox.mapped_json import SANDBOX_MAPPED_API

    style = lender.adapter
    lender.base_url = f"{site_url.rstrip('/')}/sandbox/{SANDBOX_PATHS[style]}/{lender.code}"
    wanted = {
        "embedded": {"api_key": f"sandbox-{secrets.token_hex(8)}"},
        "async_lead": {"client_id": f"sbx-client-{secrets.token_hex(4)}", "client_secret": secrets.token_urlsafe(24)},
        "offers_api": {"client_id": f"sbx-client-{secrets.token_hex(4)}", "client_secret": secrets.token_urlsafe(24),
                       "partner_source_code": f"PSC-{secrets.token_hex(6).upper()}"},
        "mapped_json": {"api_key": f"sandbox-{secrets.token_hex(8)}"},
    }[style]
    lender.credentials = {**wanted, **(lender.credentials or {})}
    lender.save()
    if style == "mapped_json":
        MappedApi.objects.get_or_create(lender=lender, defaults={"auth": MappedApi.Auth.API_KEY_HEADER, **SANDBOX_MAPPED_API})
    sandbox_settings_for(lender)
