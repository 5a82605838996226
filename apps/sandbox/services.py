"""What the sandbox lenders of every style share: knobs and the failure script, OAuth2 tokens,
callbacks to the platform, the offer rules, and the lender portal's postback.

Each style's sandbox lender is a module beside this one (embedded.py, async_lead.py,
offers_api.py, mapped_json.py), found through the adapter registry (styles.py).

Offer rules (deterministic, by monthly income in the product's currency), which every style's
sandbox applies in its own words: below 1,200,000 the consumer is not eligible; an income ending
in 777 makes the decision wait (`pending_seconds`); otherwise up to 3 offers, one per term: the
product's shortest, middle and longest. The consumer can pay 30 % of income a month; the rate is
the product's lowest from 6,000,000 of income, its highest below 2,500,000, the middle of its
range in between; each amount is what that payment repays over the term (annuity formula,
rounded down to 10,000), kept within the product's amount range and within the requested amount
when given; the monthly payment is then recomputed for that amount by the annuity formula.
Offers below the product's minimum amount are dropped.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import requests
from django.core.cache import cache
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.lenders.adapters.base import is_probe_tracking_id
from apps.lenders.config import lender_callback_url
from apps.lenders.models import Lender
from apps.products.models import Product
from apps.products.selectors import annuity_installment, monthly_rate_from_annual
from apps.sandbox.models import SandboxLenderSettings, is_known_step, parse_failure_script
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


def sandbox_probe_named(payload: Any, *path: str) -> str:
    """The tracking ID at `path` in a decision request when it is the circuit breaker's probe
    (apps.lenders.adapters.base.probe_request), else "". Each style's sandbox answers a probe with
    a decision in its own format, after its authentication, latency and failure script like any
    call, and keeps nothing: the probe proves the decision capability answers, and is no one's."""
    value = payload
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value if is_probe_tracking_id(value) else ""


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


def sandbox_rejection_as_error(knobs: SandboxLenderSettings) -> SandboxAnswer | None:
    """The `rejection_as_error` knob: a rejection answered as a server error (else None)."""
    if knobs.rejection_as_error:
        return SandboxAnswer(500, {"error": "Internal server error."})
    return None


def sandbox_repeat_reference(knobs: SandboxLenderSettings, reference: str, *, prefix: str = "") -> str:
    """The reference a repeated request is answered with: the stored one, or with the
    `repeat_answers_differ` knob a new one each time (a lender that is not idempotent)."""
    return f"{prefix}{secrets.token_hex(5).upper()}" if knobs.repeat_answers_differ else reference


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
