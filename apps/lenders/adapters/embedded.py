"""The embedded-flow lender API (seed 001): a decision call, an application call, a poll.

    POST {base_url}/decisions              -> {"trackingId", "decision", "offers": [...], "reason"?, "applicationRef"?}
    POST {base_url}/applications           -> {"trackingId", "status", "redirectUrl"}
    GET  {base_url}/decisions/<trackingId> -> the decision's current state (for `pending`)

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
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

from apps.lenders.adapters.base import (
    Consumer,
    Decision,
    DecisionResult,
    LenderAdapter,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    SubmissionResult,
    SubmitRequest,
    TechnicalFailure,
)
from apps.lenders.http import HttpResponse

CENT = Decimal("0.01")
RATE_STEP = Decimal("0.0001")
MAX_AMOUNT = Decimal("999999999999.99")  # Offer.amount: 14 digits, 2 decimal places.
MAX_ANNUAL_RATE = Decimal("100")  # 10,000 % a year: anything above is a unit mistake.
MAX_TERM_MONTHS = 600
# An offer without "currency" is in the request's currency; a poll has no request, so the
# platform's home currency stands in (every embedded lender today lends in COP).
DEFAULT_CURRENCY = "COP"


class EmbeddedFlowAdapter(LenderAdapter):
    key = "embedded"
    label = "Embedded flow (trackingId, decision, offers)"
    supports_submit = True
    supports_poll = True
    credential_names = ("api_key",)

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
            raise _invalid_data(response)
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


def _invalid_data(response: HttpResponse) -> PermanentFailure:
    """400/422: the lender's field messages, or its status alone when the body says nothing."""
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


class _Unparseable(Exception):
    pass


def _decision(response: HttpResponse, *, tracking_id: str, currency: str) -> DecisionResult:
    data = response.json_object()
    try:
        _check_tracking_id(data, tracking_id)
        try:
            decision = Decision(data.get("decision"))
        except ValueError:
            raise _Unparseable(f"decision is {data.get('decision')!r}, not approved, rejected or pending") from None
        offers: tuple[Offer, ...] = ()
        if decision is Decision.APPROVED:
            raw_offers = data.get("offers", [])
            if not isinstance(raw_offers, list):
                raise _Unparseable("offers is not a list")
            offers = tuple(_offer(raw, currency) for raw in raw_offers)
            if len({offer.lender_offer_id for offer in offers}) != len(offers):
                raise _Unparseable("two offers share an offerId")
        return DecisionResult(
            decision=decision,
            offers=offers,
            reason=_optional_text(data, "reason", 512),
            lender_reference=_optional_text(data, "applicationRef", 128),
            raw_response=data,
        )
    except _Unparseable as exc:
        raise TechnicalFailure(f"Lender's decision is unparseable: {exc}.", exchange=response.exchange) from None


def _submission(response: HttpResponse, *, tracking_id: str, lender_reference: str) -> SubmissionResult:
    data = response.json_object()
    try:
        _check_tracking_id(data, tracking_id)
        status = data.get("status")
        if not isinstance(status, str) or not status.strip() or len(status) > 40:
            raise _Unparseable("status is missing")
        redirect_url = data.get("redirectUrl")
        if not _is_absolute_url(redirect_url):
            raise _Unparseable("redirectUrl is not an absolute http(s) URL")
        return SubmissionResult(
            status=status.strip(),
            redirect_url=redirect_url,
            lender_reference=lender_reference,
            raw_response=data,
        )
    except _Unparseable as exc:
        raise TechnicalFailure(f"Lender's submission answer is unparseable: {exc}.", exchange=response.exchange) from None


def _check_tracking_id(data: dict[str, Any], tracking_id: str) -> None:
    # Exact equality: an ID that differs in case or whitespace belongs to another journey.
    if data.get("trackingId") != tracking_id:
        raise _Unparseable("trackingId does not echo ours exactly")


def _offer(raw: Any, default_currency: str) -> Offer:
    if not isinstance(raw, dict):
        raise _Unparseable("an offer is not an object")
    offer_id = raw.get("offerId")
    if not isinstance(offer_id, str) or not offer_id.strip() or len(offer_id) > 128:
        raise _Unparseable("an offer has no offerId")
    term = raw.get("termMonths")
    if isinstance(term, bool) or not isinstance(term, int) or not 0 < term <= MAX_TERM_MONTHS:
        raise _Unparseable(f"offer {offer_id}: termMonths is not a whole number of months")
    currency = raw.get("currency", default_currency)
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise _Unparseable(f"offer {offer_id}: currency is not a 3-letter code")
    url = raw.get("offerUrl") or ""
    if url and not _is_absolute_url(url):
        raise _Unparseable(f"offer {offer_id}: offerUrl is not an absolute http(s) URL")
    return Offer(
        lender_offer_id=offer_id,
        amount=_money(raw.get("amount"), f"offer {offer_id}: amount", upper=MAX_AMOUNT),
        term_months=term,
        monthly_payment=_money(raw.get("monthlyPayment"), f"offer {offer_id}: monthlyPayment", upper=MAX_AMOUNT),
        annual_rate=_rate(raw.get("annualRate"), f"offer {offer_id}: annualRate"),
        currency=currency,
        url=url,
    )


def _decimal(value: Any, what: str) -> Decimal:
    # bool is an int in Python, and true is not an amount.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Unparseable(f"{what} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _Unparseable(f"{what} is not a number") from None
    if not number.is_finite():
        raise _Unparseable(f"{what} is not a finite number")
    return number


def _money(value: Any, what: str, *, upper: Decimal) -> Decimal:
    number = _decimal(value, what).quantize(CENT, rounding=ROUND_HALF_UP)
    if not Decimal(0) < number <= upper:
        raise _Unparseable(f"{what} is out of range")
    return number


def _rate(value: Any, what: str) -> Decimal:
    number = _decimal(value, what).quantize(RATE_STEP, rounding=ROUND_HALF_UP)
    if not Decimal(0) <= number < MAX_ANNUAL_RATE:
        raise _Unparseable(f"{what} is out of range")
    return number


def _optional_text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Unparseable(f"{name} is not text")
    return value[:limit]


def _is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
