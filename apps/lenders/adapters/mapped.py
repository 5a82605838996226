"""A lender with a plain JSON API, described by staff in admin (MappedApi) instead of code.

Staff give the paths, the auth (none, an API key header, a bearer key, or HMAC signing as in
seed 004 §2), a JSON request template per capability, and where the answer keeps the decision,
the reason, the reference and each offer field, plus the values that mean approved / rejected /
pending. A new lender of this kind needs no code: `mapped_spec.mapped_spec_errors` validates
the description when it is saved, and the admin's dry run shows a request and its parsed answer.

Templates and dotted response paths are described in mapped_spec.py (`render`, `resolve`); with
`unwrap_data`, an answer `{"data": {...}}` is read inside.

Quirks handled for every such lender: 400/422 carry field errors at `errors_path` (a permanent
failure showing each message); 401/403 refuse our credentials (permanent); any other 4xx would
repeat (permanent); 5xx, 429 and unreadable answers are technical failures.

The circuit breaker's probe is the described decision call for the probe consumer
(base.probe_request): its answer must parse by the description, as a consumer's would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from apps.lenders.adapters.base import (
    JOURNEY_FIELDS,
    AdapterConfigurationError,
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
from apps.lenders.adapters.embedded import invalid_data
from apps.lenders.adapters.mapped_spec import PLACEHOLDER, category_line, listed_values, render, resolve
from apps.lenders.adapters.parsing import Unparseable, absolute_url, money, rate, term_months, text
from apps.lenders.http import HttpResponse, encode_json
from prosperas.inbound.signing import new_nonce, new_timestamp, signature


class MappedJsonAdapter(LenderAdapter):
    key = "mapped_json"
    label = "Mapped JSON API (described in admin, no code)"
    sandbox_module = "apps.sandbox.mapped_json"
    options_model = "lenders.MappedApi"
    supports_submit = True
    supports_poll = True
    credential_names = ("api_key", "hmac_key", "hmac_secret")

    @classmethod
    def submits(cls, options: Mapping[str, Any]) -> bool:
        return bool(options.get("submit_path"))

    @classmethod
    def declared_fields(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The journey fields its templates name ({{consumer.email}}, {{requested_amount}}), besides
        the class's own declaration."""
        named = [name.removeprefix("consumer.") for key in ("prequalify_template", "submit_template")
                 for name in PLACEHOLDER.findall(options.get(key) or "")]
        return tuple(dict.fromkeys([*super().declared_fields(options), *(n for n in named if n in JOURNEY_FIELDS)]))

    @classmethod
    def polls(cls, options: Mapping[str, Any]) -> bool:
        return bool(options.get("poll_path"))

    @property
    def spec(self) -> Mapping[str, Any]:
        if not self.config.options:
            raise AdapterConfigurationError(f"Lender {self.config.code!r} has no mapped API description.")
        return self.config.options

    # --- capabilities ---------------------------------------------------------------------

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        values = _request_values(request)
        body = render(json.loads(self.spec["prequalify_template"]), values)
        response = self._call("POST", _path(self.spec["prequalify_path"], values), body=body, idempotency_key=idempotency_key)
        return self._decision(response, tracking_id=request.tracking_id, currency=request.consumer.currency)

    def poll(self, tracking_id: str, *, lender_reference: str = "") -> DecisionResult:
        values = {"tracking_id": tracking_id, "lender_reference": lender_reference}
        response = self._call("GET", _path(self.spec["poll_path"], values))
        return self._decision(response, tracking_id=tracking_id, currency="COP")

    def submit(self, request: SubmitRequest, *, idempotency_key: str) -> SubmissionResult:
        values = {**_request_values(request), "lender_reference": request.lender_reference,
                  "offer.id": request.offer.lender_offer_id, "offer.amount": _number(request.offer.amount),
                  "offer.term_months": request.offer.term_months,
                  "offer.monthly_payment": _number(request.offer.monthly_payment),
                  "offer.annual_rate": _number(request.offer.annual_rate)}
        body = render(json.loads(self.spec["submit_template"]), values)
        response = self._call("POST", _path(self.spec["submit_path"], values), body=body, idempotency_key=idempotency_key)
        data = self._answer(response)
        try:
            redirect = resolve(data, self.spec["submit_redirect_path"])
            if not absolute_url(redirect):
                raise Unparseable("the redirect URL is not an absolute http(s) URL")
            status_path = self.spec.get("submit_status_path")
            status = text(resolve(data, status_path), "status", limit=40, required=True) if status_path else "submitted"
        except Unparseable as exc:
            raise TechnicalFailure(f"Lender's submission answer is unparseable: {exc}.", exchange=response.exchange) from None
        return SubmissionResult(status=status, redirect_url=redirect, lender_reference=request.lender_reference,
                                raw_response=data)

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None, idempotency_key: str = "") -> HttpResponse:
        raw = encode_json(body) if body is not None else b""
        headers = {**self._auth_headers(raw)}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.http.request(method, path, raw_json=raw if body is not None else None, headers=headers)
        response.raise_for_transport_status()
        if response.status in (400, 422):
            raise self._invalid(response)
        if 400 <= response.status < 500:
            raise PermanentFailure(f"Lender answered HTTP {response.status}.", exchange=response.exchange)
        if response.status not in (200, 201, 202):
            raise TechnicalFailure(f"Lender answered an unexpected HTTP {response.status}.", exchange=response.exchange)
        return response

    def _auth_headers(self, raw_body: bytes) -> dict[str, str]:
        auth = self.spec.get("auth") or "none"
        if auth == "api_key_header":
            return {self.spec.get("api_key_header") or "X-Api-Key": self.credential("api_key")}
        if auth == "bearer":
            return {"Authorization": f"Bearer {self.credential('api_key')}"}
        if auth == "hmac":
            # Seed 004 §2: hex HMAC-SHA256 over "{timestamp}.{nonce}.{raw body}", exactly as sent.
            prefix = self.spec.get("hmac_header_prefix") or "X-Axis-"
            timestamp, nonce = new_timestamp(), new_nonce()
            return {
                f"{prefix}Provider-Key": self.credential("hmac_key"),
                f"{prefix}Timestamp": timestamp,
                f"{prefix}Nonce": nonce,
                f"{prefix}Signature": signature(self.credential("hmac_secret"), timestamp, nonce, raw_body),
            }
        return {}

    def _answer(self, response: HttpResponse) -> Any:
        data = response.json()
        if self.spec.get("unwrap_data", True) and isinstance(data, dict) and isinstance(data.get("data"), (dict, list)):
            return data["data"]
        return data

    def _invalid(self, response: HttpResponse) -> PermanentFailure:
        errors_path = self.spec.get("errors_path") or ""
        try:
            data = response.json()
            errors = resolve(data, errors_path, None) if errors_path else None
        except TechnicalFailure:
            errors = None
        if not isinstance(errors, list):
            return invalid_data(response)
        details = []
        for error in errors:
            field = str(resolve(error, self.spec.get("error_field_path") or "field", "") or "").strip()
            message = str(resolve(error, self.spec.get("error_message_path") or "message", "") or "").strip()
            if message or field:
                details.append(f"{field}: {message}" if field else message)
        message = "Lender refused our data" + (f": {'; '.join(details)}" if details else f" (HTTP {response.status}).")
        return PermanentFailure(message, exchange=response.exchange, details=details)

    def _decision(self, response: HttpResponse, *, tracking_id: str, currency: str) -> DecisionResult:
        data = self._answer(response)
        try:
            return self._decision_from(data, tracking_id=tracking_id, currency=currency)
        except Unparseable as exc:
            raise TechnicalFailure(f"Lender's decision is unparseable: {exc}.", exchange=response.exchange) from None

    def _decision_from(self, data: Any, *, tracking_id: str, currency: str) -> DecisionResult:
        spec = self.spec
        if spec.get("tracking_id_path") and resolve(data, spec["tracking_id_path"]) != tracking_id:
            raise Unparseable("the tracking ID does not echo ours exactly")
        raw_decision = str(resolve(data, spec["decision_path"])).strip().lower()
        decision = next((d for d, name in ((Decision.APPROVED, "approved_values"), (Decision.REJECTED, "rejected_values"),
                                           (Decision.PENDING, "pending_values")) if raw_decision in listed_values(spec.get(name))), None)
        if decision is None:
            raise Unparseable(f"the decision {raw_decision!r} is none of the configured values")
        code = text(resolve(data, spec["reason_code_path"], None), "reason code", limit=128) if spec.get("reason_code_path") else ""
        words = text(resolve(data, spec["reason_text_path"], None), "reason", limit=512) if spec.get("reason_text_path") else ""
        offers = self._offers(data, currency) if decision is Decision.APPROVED and spec.get("offers_path") else ()
        categories = dict(filter(None, (category_line(line) for line in (spec.get("reason_categories") or "").splitlines())))
        return DecisionResult(
            decision=decision, offers=offers, reason=": ".join(part for part in (code, words) if part)[:512],
            reason_code=code if decision is Decision.REJECTED else "", reason_text=words,
            reason_category=categories.get(code, "") if decision is Decision.REJECTED else "",
            lender_reference=text(resolve(data, spec["reference_path"], None), "reference", limit=128)
            if spec.get("reference_path") else "",
            raw_response=data,
        )

    def _offers(self, data: Any, currency: str) -> tuple[Offer, ...]:
        spec = self.spec
        raw_offers = resolve(data, spec["offers_path"], [])
        if not isinstance(raw_offers, list):
            raise Unparseable("the offers are not a list")
        offers = []
        for raw in raw_offers:
            offer_id = text(resolve(raw, spec["offer_id_path"], None), "an offer's id", limit=128, required=True)
            url = resolve(raw, spec["offer_url_path"], "") if spec.get("offer_url_path") else ""
            if url and not absolute_url(url):
                raise Unparseable(f"offer {offer_id}: its URL is not an absolute http(s) URL")
            offers.append(Offer(
                lender_offer_id=offer_id,
                amount=money(resolve(raw, spec["offer_amount_path"], None), f"offer {offer_id}: amount"),
                term_months=term_months(resolve(raw, spec["offer_term_path"], None), f"offer {offer_id}: term"),
                monthly_payment=money(resolve(raw, spec["offer_payment_path"], None), f"offer {offer_id}: payment"),
                annual_rate=rate(resolve(raw, spec["offer_rate_path"], None), f"offer {offer_id}: rate"),
                currency=currency, url=url or "",
            ))
        if len({offer.lender_offer_id for offer in offers}) != len(offers):
            raise Unparseable("two offers share an id")
        return tuple(offers)


def _number(value: Any) -> int | float:
    """A Decimal as a JSON number: whole amounts as integers."""
    return int(value) if value == int(value) else float(value)


def _request_values(request: PrequalifyRequest | SubmitRequest) -> dict[str, Any]:
    consumer = request.consumer
    values: dict[str, Any] = {
        "tracking_id": request.tracking_id, "product_id": request.product_id, "listing_id": request.listing_id,
        "requested_amount": getattr(request, "requested_amount", None), "currency": consumer.currency,
        "consumer.document_type": consumer.document_type, "consumer.document_number": consumer.document_number,
        "consumer.full_name": consumer.full_name, "consumer.first_name": consumer.first_name,
        "consumer.last_name": consumer.last_name, "consumer.monthly_income": consumer.monthly_income,
        "consumer.annual_income": consumer.monthly_income * 12, "consumer.email": consumer.email,
        "consumer.phone": consumer.phone, "consumer.birth_date": consumer.birth_date, "consumer.region": consumer.region,
    }
    for name in ("employment_status", "address_line", "city", "postal_code"):
        values[f"consumer.{name}"] = consumer.extra.get(name, "")
    return values


def _path(template: str, values: Mapping[str, Any]) -> str:
    # Values in a path are encoded byte for byte (a tracking ID may hold reserved characters).
    return PLACEHOLDER.sub(lambda match: quote(str(values.get(match.group(1)) or ""), safe=""), template)
