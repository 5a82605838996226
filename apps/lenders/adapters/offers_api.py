"""A synchronous offers API (seed 003, modelled on a marketplace lender's offers endpoint).

    POST {base_url}/oauth/token                        (client credentials)  -> {access_token, expires_in}
    POST {base_url}/marketplace/application/offers/   (Authorization: bearer) -> offers, or errors

One call answers with the offers at once; there is no submission call: the consumer chooses an
offer and is handed to that offer's own URL (`supports_submit = False`).

Quirks of this style, and what the adapter does about them:
- The request is seven nested objects (loan_info, identification, personal_info, address_info,
  contact_info, employment_info; bank_account_info is optional and never sent). The lender
  needs data our identity step does not collect: birth date, address, region (its "state"),
  e-mail, employment status and the amount asked for. The adapter declares them in
  `prequalify_fields`, so the flow asks for them first.
- Formats: date_of_birth as MM/dd/yyyy; loan_amount and annual_income as plain decimals (monthly
  income × 12); the region's ISO 3166-2 code without its country ("CO-DC" → "DC"); the mobile
  phone split into area code and number.
- Business outcomes come back as HTTP 200 with `errors`: pre-existing customer (MKTPL-100),
  under age (1006), a region it does not serve (1007), an amount over the region's limit (1008),
  no matching offers (1009). They are rejections, with a consumer-safe category.
- A data-format error (MKTPL-1012) carries an `assertions` list, one per bad field: a permanent
  failure whose details are those field messages, for staff.
- A missing or invalid partner code (MKTPL-1001 / 1004) comes as HTTP 401, like an expired
  token: a 401 about the token refreshes it once; one about the partner code is a permanent
  authentication failure at once.
- The circuit breaker's probe is the token call and the offers call for the probe consumer
  (base.probe_request): offers or a business error code that parses prove the capability.
"""

from __future__ import annotations

from typing import Any

from apps.lenders.adapters.base import (
    Decision,
    DecisionResult,
    LenderAdapter,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    RejectionCategory,
    TechnicalFailure,
)
from apps.lenders.adapters.oauth import ClientCredentialsToken, bearer_request
from apps.lenders.adapters.parsing import Unparseable, absolute_url, money, rate, term_months, text
from apps.lenders.http import HttpResponse

TOKEN_PATH = "oauth/token"
OFFERS_PATH = "marketplace/application/offers/"
LOAN_PURPOSE_OTHER = 15
EMPLOYMENT_STATUS_IDS = {"employed": 7, "self_employed": 3, "unemployed": 5, "other": 6}
AUTH_CODES = {"MKTPL-1001", "MKTPL-1004"}
DATA_FORMAT_CODE = "MKTPL-1012"
REJECTIONS = {
    "MKTPL-100": RejectionCategory.EXISTING_CUSTOMER,
    "MKTPL-1006": RejectionCategory.AGE,
    "MKTPL-1007": RejectionCategory.REGION,
    "MKTPL-1008": RejectionCategory.REGION,
    "MKTPL-1009": RejectionCategory.CREDIT_POLICY,
}


class OffersApiAdapter(LenderAdapter):
    key = "offers_api"
    label = "Synchronous offers API (OAuth2 bearer, nested borrower, offer URLs)"
    sandbox_module = "apps.sandbox.offers_api"
    supports_submit = False
    supports_poll = False
    credential_names = ("client_id", "client_secret", "partner_source_code")
    prequalify_fields = (
        "requested_amount", "birth_date", "email", "employment_status", "address_line", "city", "region", "postal_code",
    )
    submit_fields = ()

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        tokens = ClientCredentialsToken(
            self.http, lender_code=self.config.code, token_path=TOKEN_PATH,
            client_id=self.credential("client_id"), client_secret=self.credential("client_secret"),
        )
        response = bearer_request(
            self.http, tokens, "POST", OFFERS_PATH, scheme="bearer", json_body=self._body(request),
            headers={"Idempotency-Key": idempotency_key}, refresh_on=lambda answer: not _error_codes(answer) & AUTH_CODES,
        )
        response.raise_for_transport_status()  # 401 (partner code, or a second one) and 403: permanent
        if response.status != 200:
            raise PermanentFailure(f"Lender answered HTTP {response.status}.", exchange=response.exchange)
        return _result(response, currency=request.consumer.currency)

    def _body(self, request: PrequalifyRequest) -> dict[str, Any]:
        consumer, extra = request.consumer, request.consumer.extra
        body: dict[str, Any] = {
            "loan_info": {"loan_purpose_id": LOAN_PURPOSE_OTHER, "loan_amount": request.requested_amount},
            "identification": {
                "client_reference_id": request.tracking_id,
                "partner_source_code": self.credential("partner_source_code"),
            },
            "personal_info": {
                "first_name": consumer.first_name, "last_name": consumer.last_name,
                "date_of_birth": _us_date(consumer.birth_date),
            },
            "address_info": {
                "street": extra.get("address_line") or None, "city": extra.get("city") or None,
                "state": consumer.region.partition("-")[2] or consumer.region or None,
                "zip_code": extra.get("postal_code") or None,
            },
            "contact_info": {"email": consumer.email or None},
            "employment_info": {
                "employment_status_id": EMPLOYMENT_STATUS_IDS.get(extra.get("employment_status", "")),
                "annual_income": consumer.monthly_income * 12,
            },
        }
        digits = consumer.phone.removeprefix("+57")
        if len(digits) == 10 and digits.isdigit():
            body["contact_info"]["mobile_phone"] = {"area_code": digits[:3], "phone_number": digits[3:]}
        return body


def _us_date(iso_date: str) -> str | None:
    year, _, rest = (iso_date or "").partition("-")
    month, _, day = rest.partition("-")
    return f"{month}/{day}/{year}" if year and month and day else None


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    errors = data.get("errors") or []
    return [error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else []


def _error_codes(response: HttpResponse) -> set[str]:
    try:
        return {str(error.get("code")) for error in _errors(response.json_object())}
    except TechnicalFailure:
        return set()


def _result(response: HttpResponse, *, currency: str) -> DecisionResult:
    data = response.json_object()
    errors = [error for error in _errors(data) if error.get("code")]
    if errors:
        return _business_error(response, errors[0])
    try:
        raw_offers = data.get("offers") or []
        if not isinstance(raw_offers, list):
            raise Unparseable("offers is not a list")
        offers = tuple(_offer(raw, currency) for raw in raw_offers)
        if len({offer.lender_offer_id for offer in offers}) != len(offers):
            raise Unparseable("two offers share an id")
        reference = text(data.get("referral_code"), "referral_code", limit=128)
    except Unparseable as exc:
        raise TechnicalFailure(f"Lender's offers are unparseable: {exc}.", exchange=response.exchange) from None
    if not offers:
        return DecisionResult(decision=Decision.REJECTED, reason="no offers", reason_text="No offers were returned.",
                              reason_category=RejectionCategory.CREDIT_POLICY, lender_reference=reference, raw_response=data)
    return DecisionResult(decision=Decision.APPROVED, offers=offers, lender_reference=reference, raw_response=data)


def _business_error(response: HttpResponse, error: dict[str, Any]) -> DecisionResult:
    """HTTP 200 with an error code: a rejection, our data refused field by field, or a code we
    do not know (permanent, so staff read it rather than the consumer waiting on retries)."""
    code, message = str(error.get("code")), str(error.get("message") or "").strip()
    if code in REJECTIONS:
        return DecisionResult(
            decision=Decision.REJECTED, reason=f"{code}: {message}"[:512], reason_code=code, reason_text=message[:512],
            reason_category=REJECTIONS[code], raw_response=response.json_object(),
        )
    if code == DATA_FORMAT_CODE:
        assertions = error.get("assertions") if isinstance(error.get("assertions"), list) else []
        details = [
            f"{item.get('code')}: {str(item.get('message') or '').strip()}" for item in assertions if isinstance(item, dict)
        ]
        raise PermanentFailure(f"Lender refused our data ({code}): {message}", exchange=response.exchange, details=details)
    raise PermanentFailure(f"Lender answered error {code}: {message}", exchange=response.exchange)


def _offer(raw: Any, currency: str) -> Offer:
    if not isinstance(raw, dict):
        raise Unparseable("an offer is not an object")
    offer_id = raw.get("id")
    if isinstance(offer_id, bool) or not isinstance(offer_id, (int, str)) or not str(offer_id).strip():
        raise Unparseable("an offer has no id")
    offer_id = str(offer_id)
    url = raw.get("offer_url")
    if not absolute_url(url):
        raise Unparseable(f"offer {offer_id}: offer_url is not an absolute http(s) URL")
    fee = raw.get("origination_fee")
    return Offer(
        lender_offer_id=offer_id,
        amount=money(raw.get("loan_amount"), f"offer {offer_id}: loan_amount"),
        term_months=term_months(raw.get("loan_term_in_months"), f"offer {offer_id}: loan_term_in_months"),
        monthly_payment=money(raw.get("monthly_payment"), f"offer {offer_id}: monthly_payment"),
        annual_rate=rate(raw.get("loan_rate"), f"offer {offer_id}: loan_rate"),
        apr=rate(raw.get("apr"), f"offer {offer_id}: apr"),
        origination_fee=money(fee, f"offer {offer_id}: origination_fee", allow_zero=True) if fee is not None else None,
        currency=currency,
        url=url,
    )
