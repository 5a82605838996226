"""The embedded-flow lender API (seed 001): a decision call, an application call, a poll.

    POST {base_url}/decisions              -> {"trackingId", "decision", "offers": [...], "reason"?, "applicationRef"?}
    POST {base_url}/applications           -> {"trackingId", "status", "redirectUrl"}
    GET  {base_url}/decisions/<trackingId> -> the decision's current state (for `pending`)
    POST <our callback URL>                -> the lender sends the resolved decision (same body)

Headers: `X-Api-Key` (credentials["api_key"]) and `Idempotency-Key` (the same on every retry of
one capability for one tracking ID). The lender is idempotent by trackingId: a repeated call
returns its first answer.

Quirks of this style, and what the adapter does about them:
- 400 and 422 carry `{"errors": [{"field", "message"}]}`: our data is invalid, so the failure is
  permanent and the lender's own messages become its details (staff read them).
- The lender's answer is validated strictly. A missing decision, an offer with a non-positive
  amount or a term that is not a whole number, or a trackingId that differs by a single byte from
  the one we sent is a technical failure ("unparseable"): we would rather retry than store an
  answer we do not understand.
- Money arrives as JSON numbers; it becomes Decimal through its text, never through a float's
  binary value, and is quantized to the columns it is stored in.
- A `pending` decision is resolved by `GET /decisions/<trackingId>` (polling) or by the lender
  POSTing the same decision body to our callback URL (`parse_callback`), whichever comes first.
- Rejection reasons are the lender's own snake_case codes; the known ones map to a category
  (REASON_CATEGORIES), any other is classified from its words.
- The circuit breaker's probe is `POST /decisions` for the probe consumer (base.probe_request):
  any decision that parses proves the capability; a 404 or 500 on it keeps the circuit open.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from apps.lenders.adapters.base import (
    CallbackResult,
    Consumer,
    Decision,
    DecisionResult,
    LenderAdapter,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    RejectionCategory,
    SubmissionResult,
    SubmitRequest,
    TechnicalFailure,
)
from apps.lenders.adapters.parsing import (
    MAX_AMOUNT,
    Unparseable,
    absolute_url,
    money,
    rate,
    term_months,
)
from apps.lenders.adapters.parsing import text as optional_text
from apps.lenders.http import HttpResponse

# An offer without "currency" is in the request's currency; a poll has no request, so the
# platform's home currency stands in (every embedded lender today lends in COP).
DEFAULT_CURRENCY = "COP"
REASON_CATEGORIES = {
    "consumer_not_eligible": RejectionCategory.CREDIT_POLICY,
    "insufficient_payment_capacity": RejectionCategory.INCOME,
    "insufficient_income": RejectionCategory.INCOME,
    "underage": RejectionCategory.AGE,
    "region_not_served": RejectionCategory.REGION,
    "existing_customer": RejectionCategory.EXISTING_CUSTOMER,
    "incomplete_data": RejectionCategory.INCOMPLETE_DATA,
}


class EmbeddedFlowAdapter(LenderAdapter):
    key = "embedded"
    label = "Embedded flow (trackingId, decision, offers)"
    sandbox_module = "apps.sandbox.embedded"
    supports_submit = True
    supports_poll = True
    supports_callback = True
    credential_names = ("api_key",)
    reads_extra_data = False
    poll_interval_seconds = 5.0

    # --- capabilities ---------------------------------------------------------------------

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        body: dict[str, Any] = {
            "trackingId": request.tracking_id,
            "productId": request.product_id,
            "listingId": request.listing_id,
            "consumer": _identity(request.consumer),
        }
        if request.requested_amount is not None:
            body["requestedAmount"] = request.requested_amount
        response = self._call("POST", "decisions", body=body, idempotency_key=idempotency_key, ok=(200,))
        return _decision(response, tracking_id=request.tracking_id, currency=request.consumer.currency)

    def submit(self, request: SubmitRequest, *, idempotency_key: str) -> SubmissionResult:
        consumer = {**_identity(request.consumer), "email": request.consumer.email, "phone": request.consumer.phone}
        body: dict[str, Any] = {
            "trackingId": request.tracking_id,
            "selectedOfferId": request.offer.lender_offer_id,
            "consumer": consumer,
        }
        if request.lender_reference:
            body["lenderApplicationRef"] = request.lender_reference
        response = self._call("POST", "applications", body=body, idempotency_key=idempotency_key, ok=(200, 201))
        return _submission(response, tracking_id=request.tracking_id, lender_reference=request.lender_reference)

    def poll(self, tracking_id: str, *, lender_reference: str = "") -> DecisionResult:
        # The tracking ID goes in the path byte for byte: every reserved character is encoded.
        response = self._call("GET", f"decisions/{quote(tracking_id, safe='')}", ok=(200,))
        return _decision(response, tracking_id=tracking_id, currency=DEFAULT_CURRENCY)

    def parse_callback(self, body: bytes) -> CallbackResult:
        try:
            data = json.loads(body)
        except ValueError:
            raise TechnicalFailure("The callback body is not JSON.") from None
        tracking_id = data.get("trackingId") if isinstance(data, dict) else None
        if not isinstance(tracking_id, str) or not tracking_id:
            raise TechnicalFailure("The callback names no trackingId.")
        try:
            result = _decision_from(data, tracking_id=tracking_id, currency=DEFAULT_CURRENCY)
        except Unparseable as exc:
            raise TechnicalFailure(f"The callback's decision is unparseable: {exc}.") from None
        return CallbackResult(tracking_id=tracking_id, result=result)

    # --- plumbing -------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, body: Any = None, idempotency_key: str = "", ok: tuple[int, ...]
    ) -> HttpResponse:
        headers = {"X-Api-Key": self.credential("api_key")}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.http.request(method, path, json_body=body, headers=headers)
        response.raise_for_transport_status()
        if response.status in (400, 422):
            raise invalid_data(response)
        if 400 <= response.status < 500:
            # 404 (wrong base URL), 405, 409...: the same request would meet the same answer.
            raise PermanentFailure(f"Lender answered HTTP {response.status}.", exchange=response.exchange)
        if response.status not in ok:
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        return response


def _identity(consumer: Consumer) -> dict[str, Any]:
    return {
        "documentType": consumer.document_type,
        "documentNumber": consumer.document_number,
        "fullName": consumer.full_name,
        "monthlyIncome": consumer.monthly_income,
        "currency": consumer.currency,
    }


def invalid_data(response: HttpResponse) -> PermanentFailure:
    """400/422 with {"errors": [{"field", "message"}]}: the lender's field messages, or its
    status alone when the body says nothing."""
    details: list[str] = []
    try:
        errors = response.json_object().get("errors")
    except TechnicalFailure:
        errors = None
    if isinstance(errors, list):
        for error in errors:
            if isinstance(error, dict):
                field, message = str(error.get("field") or "").strip(), str(error.get("message") or "").strip()
                details.append(f"{field}: {message}" if field else message)
    details = [detail for detail in details if detail]
    message = "Lender refused our data" + (f": {'; '.join(details)}" if details else f" (HTTP {response.status}).")
    return PermanentFailure(message, exchange=response.exchange, details=details)


def _decision(response: HttpResponse, *, tracking_id: str, currency: str) -> DecisionResult:
    data = response.json_object()
    try:
        return _decision_from(data, tracking_id=tracking_id, currency=currency)
    except Unparseable as exc:
        raise TechnicalFailure(f"Lender's decision is unparseable: {exc}.", exchange=response.exchange) from None


def _decision_from(data: dict[str, Any], *, tracking_id: str, currency: str) -> DecisionResult:
    _check_tracking_id(data, tracking_id)
    try:
        decision = Decision(data.get("decision"))
    except ValueError:
        raise Unparseable(f"decision is {data.get('decision')!r}, not approved, rejected or pending") from None
    offers: tuple[Offer, ...] = ()
    if decision is Decision.APPROVED:
        raw_offers = data.get("offers", [])
        if not isinstance(raw_offers, list):
            raise Unparseable("offers is not a list")
        offers = tuple(_offer(raw, currency) for raw in raw_offers)
        if len({offer.lender_offer_id for offer in offers}) != len(offers):
            raise Unparseable("two offers share an offerId")
    reason = optional_text(data.get("reason"), "reason", limit=512)
    return DecisionResult(
        decision=decision,
        offers=offers,
        reason=reason,
        reason_code=reason if decision is Decision.REJECTED else "",
        reason_category=REASON_CATEGORIES.get(reason, "") if decision is Decision.REJECTED else "",
        lender_reference=optional_text(data.get("applicationRef"), "applicationRef", limit=128),
        raw_response=data,
    )


def _submission(response: HttpResponse, *, tracking_id: str, lender_reference: str) -> SubmissionResult:
    data = response.json_object()
    try:
        _check_tracking_id(data, tracking_id)
        status = data.get("status")
        if not isinstance(status, str) or not status.strip() or len(status) > 40:
            raise Unparseable("status is missing")
        redirect_url = data.get("redirectUrl")
        if not absolute_url(redirect_url):
            raise Unparseable("redirectUrl is not an absolute http(s) URL")
        return SubmissionResult(
            status=status.strip(),
            redirect_url=redirect_url,
            lender_reference=lender_reference,
            raw_response=data,
        )
    except Unparseable as exc:
        raise TechnicalFailure(f"Lender's submission answer is unparseable: {exc}.", exchange=response.exchange) from None


def _check_tracking_id(data: dict[str, Any], tracking_id: str) -> None:
    # Exact equality: an ID that differs in case or whitespace belongs to another journey.
    if data.get("trackingId") != tracking_id:
        raise Unparseable("trackingId does not echo ours exactly")


def _offer(raw: Any, default_currency: str) -> Offer:
    if not isinstance(raw, dict):
        raise Unparseable("an offer is not an object")
    offer_id = raw.get("offerId")
    if not isinstance(offer_id, str) or not offer_id.strip() or len(offer_id) > 128:
        raise Unparseable("an offer has no offerId")
    currency = raw.get("currency", default_currency)
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise Unparseable(f"offer {offer_id}: currency is not a 3-letter code")
    url = raw.get("offerUrl") or ""
    if url and not absolute_url(url):
        raise Unparseable(f"offer {offer_id}: offerUrl is not an absolute http(s) URL")
    return Offer(
        lender_offer_id=offer_id,
        amount=money(raw.get("amount"), f"offer {offer_id}: amount", upper=MAX_AMOUNT),
        term_months=term_months(raw.get("termMonths"), f"offer {offer_id}: termMonths"),
        monthly_payment=money(raw.get("monthlyPayment"), f"offer {offer_id}: monthlyPayment", upper=MAX_AMOUNT),
        annual_rate=rate(raw.get("annualRate"), f"offer {offer_id}: annualRate"),
        currency=currency,
        url=url,
    )
