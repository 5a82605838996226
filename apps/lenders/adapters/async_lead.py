"""An asynchronous lead API (seed 002, modelled on a personal-loan marketplace's platform API).

    POST {base_url}/oauth2/token             (client credentials)  -> {access_token, expires_in}
    POST {base_url}/personal/v1/leads        (Bearer)              -> 201 {uuid, status: "created"}
    GET  {base_url}/personal/v1/leads/<uuid> (Bearer)              -> the lead's current state
    POST {base_url}/personal/v1/leads/<uuid>/consent-revocation (Bearer) -> 200 {uuid, consentRevokedAt}
    POST <our callback URL>                  (by the lender)       -> the lead's final state; we answer a status only

The decision is never in the first answer: the lead is `pending` under the lender's uuid until
the lender calls back (the primary path: our per-lender callback URL with an unguessable token,
configured on the lender's side at onboarding), or until a poll finds it final.

Quirks of this style, and what the adapter does about them:
- Statuses are a state machine: created → in_progress → finding_products → offers_found /
  no_offers / timed_out, then product_selected once the consumer follows a product's URL. The
  first three are `pending`; offers_found and product_selected are `approved`; no_offers is a
  rejection (with the adverse action notice, HTML sanitized with nh3 before it is kept); the
  lender's own timed_out is a permanent failure of this lead (the consumer is told to try
  again; the lender answers the same lead the same way, so retrying at once would not help).
  Our own give-up when no final answer comes (~120 s) is Lender.pending_timeout_seconds.
- Products come grouped by amount range (requested-amount / higher-than-requested-amount /
  lower-than-requested-amount); each offer keeps its group (Offer.amount_group).
- A lead is idempotent by partnerLeadId (our tracking ID): a repeated POST answers its state.
- Bearer tokens are cached and refreshed before expiry; a 401 refreshes once (oauth.py).
- The circuit breaker's probe is the token call and `POST personal/v1/leads` for the probe
  consumer (base.probe_request): a lead state that parses (usually `created`) proves it works.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from apps.lenders.adapters.base import (
    AmountGroup,
    CallbackResult,
    Decision,
    DecisionResult,
    LenderAdapter,
    Offer,
    PermanentFailure,
    PrequalifyRequest,
    RejectionCategory,
    RevocationRequest,
    RevocationResult,
    TechnicalFailure,
)
from apps.lenders.adapters.embedded import invalid_data
from apps.lenders.adapters.oauth import ClientCredentialsToken, bearer_request
from apps.lenders.adapters.parsing import (
    Unparseable,
    absolute_url,
    money,
    rate,
    sanitized_notice,
    term_months,
    text,
)
from apps.lenders.http import HttpResponse

TOKEN_PATH = "oauth2/token"
LEADS_PATH = "personal/v1/leads"
PENDING_STATUSES = {"created", "in_progress", "finding_products"}
APPROVED_STATUSES = {"offers_found", "product_selected"}
GROUPS = {
    "requested-amount": AmountGroup.REQUESTED,
    "higher-than-requested-amount": AmountGroup.HIGHER,
    "lower-than-requested-amount": AmountGroup.LOWER,
}
DEFAULT_CURRENCY = "COP"


class AsyncLeadAdapter(LenderAdapter):
    key = "async_lead"
    label = "Asynchronous lead API (OAuth2, 201 + callback, polling fallback)"
    sandbox_module = "apps.sandbox.async_lead"
    supports_submit = False
    supports_poll = True
    supports_callback = True
    # The API takes the borrower's revocation of consent for a lead: it stops processing the
    # borrower's data and answers the lead's uuid with the moment it recorded.
    supports_revocation = True
    credential_names = ("client_id", "client_secret")
    prequalify_fields = ("requested_amount", "birth_date", "email", "region", "employment_status")
    submit_fields = ()
    # The callback is the primary path; polling is the fallback for a callback that is late.
    poll_interval_seconds = 15.0

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        response = self._call("POST", LEADS_PATH, json_body=self._body(request), idempotency_key=idempotency_key)
        if response.status not in (200, 201):
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        return _parsed(response, tracking_id=request.tracking_id, currency=request.consumer.currency)

    def poll(self, tracking_id: str, *, lender_reference: str = "") -> DecisionResult:
        if not lender_reference:
            raise PermanentFailure("No lead uuid was stored for this journey: it cannot be polled.")
        response = self._call("GET", f"{LEADS_PATH}/{quote(lender_reference, safe='')}")
        if response.status != 200:
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        return _parsed(response, tracking_id=tracking_id, currency=DEFAULT_CURRENCY)

    def revoke(self, request: RevocationRequest, *, idempotency_key: str) -> RevocationResult:
        if not request.lender_reference:
            raise PermanentFailure("No lead uuid was stored for this journey: the lender cannot be told by API.")
        path = f"{LEADS_PATH}/{quote(request.lender_reference, safe='')}/consent-revocation"
        body = {"partnerLeadId": request.tracking_id, "revokedAt": request.revoked_at}
        response = self._call("POST", path, json_body=body, idempotency_key=idempotency_key)
        if response.status != 200:
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        data = response.json_object()
        if data.get("uuid") != request.lender_reference or not isinstance(data.get("consentRevokedAt"), str):
            raise TechnicalFailure("The lender's acknowledgement names another lead or no revocation time.",
                                   exchange=response.exchange)
        return RevocationResult(status="revoked", lender_reference=data["uuid"], raw_response=data)

    def parse_callback(self, body: bytes) -> CallbackResult:
        try:
            data = json.loads(body)
        except ValueError:
            raise TechnicalFailure("The callback body is not JSON.") from None
        if not isinstance(data, dict):
            raise TechnicalFailure("The callback body is not a JSON object.")
        tracking_id, reference = data.get("partnerLeadId"), data.get("uuid")
        if not (isinstance(tracking_id, str) and tracking_id) and not (isinstance(reference, str) and reference):
            raise TechnicalFailure("The callback names neither partnerLeadId nor uuid.")
        names = {"tracking_id": tracking_id or "", "lender_reference": reference or ""}
        try:
            result = _decision_from(data, tracking_id=tracking_id or "", currency=DEFAULT_CURRENCY)
        except Unparseable as exc:
            raise TechnicalFailure(f"The callback's lead is unparseable: {exc}.") from None
        except _LenderTimedOut as exc:
            return CallbackResult(**names, failure=exc.message)
        return CallbackResult(**names, result=result)

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json_body: Any = None, idempotency_key: str = "") -> HttpResponse:
        tokens = ClientCredentialsToken(
            self.http, lender_code=self.config.code, token_path=TOKEN_PATH,
            client_id=self.credential("client_id"), client_secret=self.credential("client_secret"),
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = bearer_request(self.http, tokens, method, path, json_body=json_body, headers=headers)
        response.raise_for_transport_status()
        if response.status in (400, 422):
            raise invalid_data(response)
        if 400 <= response.status < 500:
            raise PermanentFailure(f"Lender answered HTTP {response.status}.", exchange=response.exchange)
        return response

    def _body(self, request: PrequalifyRequest) -> dict[str, Any]:
        consumer = request.consumer
        return {
            "partnerLeadId": request.tracking_id,
            "loan": {"amount": request.requested_amount, "purpose": "personal"},
            "borrower": {
                "firstName": consumer.first_name,
                "lastName": consumer.last_name,
                "documentType": consumer.document_type,
                "documentNumber": consumer.document_number,
                "birthDate": consumer.birth_date or None,
                "email": consumer.email or None,
                "phone": consumer.phone or None,
                "address": {"region": consumer.region or None, "city": consumer.extra.get("city") or None},
                "employmentStatus": consumer.extra.get("employment_status") or None,
                "income": {"annual": consumer.monthly_income * 12, "currency": consumer.currency},
            },
            # Seed 002: by submitting a lead the partner attests the borrower accepted the terms
            # (the hosted flow records the consent before identity is sent).
            "consent": {"termsAccepted": True},
        }


def _parsed(response: HttpResponse, *, tracking_id: str, currency: str) -> DecisionResult:
    data = response.json_object()
    try:
        return _decision_from(data, tracking_id=tracking_id, currency=currency)
    except Unparseable as exc:
        raise TechnicalFailure(f"Lender's lead is unparseable: {exc}.", exchange=response.exchange) from None
    except _LenderTimedOut as exc:
        exc.exchange = response.exchange
        raise


def _decision_from(data: dict[str, Any], *, tracking_id: str, currency: str) -> DecisionResult:
    if tracking_id and data.get("partnerLeadId") not in (None, tracking_id):
        raise Unparseable("partnerLeadId does not echo our tracking ID exactly")
    reference = text(data.get("uuid"), "uuid", limit=128, required=True)
    status = data.get("status")
    if status in PENDING_STATUSES:
        return DecisionResult(decision=Decision.PENDING, reason=status, lender_reference=reference, raw_response=data)
    if status in APPROVED_STATUSES:
        offers = _products(data.get("products"), currency)
        if not offers:
            raise Unparseable(f"status {status} with no products")
        return DecisionResult(decision=Decision.APPROVED, offers=offers, lender_reference=reference, raw_response=data)
    if status == "no_offers":
        return DecisionResult(
            decision=Decision.REJECTED, reason="no_offers", reason_code="no_offers",
            reason_text="No offers were found.", reason_category=RejectionCategory.CREDIT_POLICY,
            notice_html=sanitized_notice(data.get("adverseActionNotice")), lender_reference=reference, raw_response=data,
        )
    if status == "timed_out":
        raise _LenderTimedOut(reference)
    raise Unparseable(f"status {status!r} is not one this API documents")


class _LenderTimedOut(PermanentFailure):
    """The lender's own search timed out: this lead will not get offers (see the docstring)."""

    def __init__(self, reference: str):
        super().__init__(f"The lender's search for lead {reference} timed out (status timed_out).")


def _products(groups: Any, currency: str) -> tuple[Offer, ...]:
    if not isinstance(groups, dict):
        raise Unparseable("products is not an object of amount ranges")
    offers: list[Offer] = []
    for name, group in GROUPS.items():
        raw_list = groups.get(name) or []
        if not isinstance(raw_list, list):
            raise Unparseable(f"products.{name} is not a list")
        offers += [_product(raw, group, currency) for raw in raw_list]
    if len({offer.lender_offer_id for offer in offers}) != len(offers):
        raise Unparseable("two products share a productId")
    return tuple(offers)


def _product(raw: Any, group: str, currency: str) -> Offer:
    if not isinstance(raw, dict):
        raise Unparseable("a product is not an object")
    product_id = text(raw.get("productId"), "a product's productId", limit=128, required=True)
    url = raw.get("lenderOfferUrl")
    if not absolute_url(url):
        raise Unparseable(f"product {product_id}: lenderOfferUrl is not an absolute http(s) URL")
    return Offer(
        lender_offer_id=product_id,
        amount=money(raw.get("amount"), f"product {product_id}: amount"),
        term_months=term_months(raw.get("termMonths"), f"product {product_id}: termMonths"),
        monthly_payment=money(raw.get("monthlyPayment"), f"product {product_id}: monthlyPayment"),
        annual_rate=rate(raw.get("interestRate"), f"product {product_id}: interestRate"),
        apr=rate(raw.get("apr"), f"product {product_id}: apr"),
        currency=currency, url=url, amount_group=group,
    )
