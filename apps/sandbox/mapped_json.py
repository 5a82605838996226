"""The sandbox lender of a plain JSON API that Prosperas reaches through a mapping staff write
in admin (adapter "mapped_json"), at /sandbox/mapped/<lender code>/. Its API is Spanish-named,
enveloped in {"data": ...}, and unlike any other style, to prove that no code is needed:

    POST solicitudes              {"referencia", "producto", "montoSolicitado", "cliente": {...}}
                                  -> {"data": {"referencia", "estado", "radicado", "motivo", "ofertas"}}
    GET  solicitudes/<referencia> -> the same, as it stands now
    POST radicaciones             {"referencia", "oferta", "cliente": {"correo", "celular"}}
                                  -> {"data": {"estado": "RADICADA", "urlFirma"}}
    422 {"errores": [{"campo", "mensaje"}]} for invalid data.

`estado` is APROBADO, RECHAZADO (motivo R01: income below 1,200,000; R02: no affordable amount)
or EN_ESTUDIO (income ending in 777, or the pending_then_resolve knob), which resolves by the
same rules `pending_seconds` later. It authenticates as the lender's MappedApi says: an API key
header, a bearer key, HMAC (seed 004 §2: timestamp within 5 minutes, a nonce used once, the
signature over the raw body compared in constant time), or nothing.

SANDBOX_MAPPED_API is the description of this API as staff would write it in admin.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.lenders.adapters.mapped import MappedJsonAdapter
from apps.lenders.models import Lender, MappedApi
from apps.products.models import Product
from apps.sandbox import services, views
from apps.sandbox.models import SandboxApplication
from apps.sandbox.styles import ContractData, SandboxStyle
from apps.sandbox.views import lender_api
from prosperas.inbound.signing import signature, signatures_match

STYLE = MappedJsonAdapter.key

HMAC_TOLERANCE_SECONDS = 300
NONCE_PREFIX = "sandbox-mapped-nonce:"

SANDBOX_MAPPED_API: dict[str, Any] = {
    "prequalify_path": "solicitudes",
    "prequalify_template": json.dumps({
        "referencia": "{{tracking_id}}", "producto": "{{product_id}}", "montoSolicitado": "{{requested_amount}}",
        "cliente": {"tipoDocumento": "{{consumer.document_type}}", "documento": "{{consumer.document_number}}",
                    "nombre": "{{consumer.full_name}}", "ingresoMensual": "{{consumer.monthly_income}}"},
    }, indent=2),
    "tracking_id_path": "referencia",
    "decision_path": "estado",
    "approved_values": "APROBADO",
    "rejected_values": "RECHAZADO",
    "pending_values": "EN_ESTUDIO",
    "reason_code_path": "motivo.codigo",
    "reason_text_path": "motivo.descripcion",
    "reason_categories": "R01 = income\nR02 = income",
    "reference_path": "radicado",
    "offers_path": "ofertas",
    "offer_id_path": "id",
    "offer_amount_path": "monto",
    "offer_term_path": "plazo",
    "offer_payment_path": "cuota",
    "offer_rate_path": "tasa",
    "offer_url_path": "url",
    "errors_path": "errores",
    "error_field_path": "campo",
    "error_message_path": "mensaje",
    "poll_path": "solicitudes/{{tracking_id}}",
    "submit_path": "radicaciones",
    "submit_template": json.dumps({
        "referencia": "{{tracking_id}}", "radicado": "{{lender_reference}}", "oferta": "{{offer.id}}",
        "cliente": {"documento": "{{consumer.document_number}}", "correo": "{{consumer.email}}",
                    "celular": "{{consumer.phone}}"},
    }, indent=2),
    "submit_status_path": "estado",
    "submit_redirect_path": "urlFirma",
}


def _errors(*pairs: tuple[str, str]) -> services.SandboxAnswer:
    return services.SandboxAnswer(422, {"errores": [{"campo": field, "mensaje": message} for field, message in pairs]})


# --- authentication -------------------------------------------------------------------------


def sandbox_mapped_authenticate(*, lender: Lender, request: HttpRequest) -> str:
    """Why the request is refused ("" when it is accepted), by the lender's configured auth."""
    mapped = MappedApi.objects.filter(lender=lender).first()
    credentials = lender.credentials or {}
    auth = mapped.auth if mapped is not None else MappedApi.Auth.NONE
    if auth == MappedApi.Auth.API_KEY_HEADER:
        expected = str(credentials.get("api_key") or "")
        received = request.headers.get(mapped.api_key_header or "X-Api-Key", "")
        return "" if expected and signatures_match(expected, received) else "clave de API inválida"
    if auth == MappedApi.Auth.BEARER:
        expected = f"Bearer {credentials.get('api_key') or ''}"
        return "" if credentials.get("api_key") and signatures_match(expected, request.headers.get("Authorization", "")) \
            else "token inválido"
    if auth == MappedApi.Auth.HMAC:
        return _hmac_refusal(mapped.hmac_header_prefix or "X-Axis-", credentials, request)
    return ""


def refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    reason = sandbox_mapped_authenticate(lender=lender, request=request)
    return JsonResponse({"errores": [{"campo": "autenticacion", "mensaje": reason}]}, status=401) if reason else None


def _hmac_refusal(prefix: str, credentials: dict, request: HttpRequest) -> str:
    key, timestamp = request.headers.get(f"{prefix}Provider-Key", ""), request.headers.get(f"{prefix}Timestamp", "")
    nonce, received = request.headers.get(f"{prefix}Nonce", ""), request.headers.get(f"{prefix}Signature", "")
    if not (credentials.get("hmac_key") and signatures_match(str(credentials["hmac_key"]), key)):
        return "clave pública desconocida"
    try:
        sent_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "marca de tiempo inválida"
    if sent_at.tzinfo is None or abs((timezone.now() - sent_at).total_seconds()) > HMAC_TOLERANCE_SECONDS:
        return "marca de tiempo fuera de la ventana de 5 minutos"
    expected = signature(str(credentials.get("hmac_secret") or ""), timestamp, nonce, request.body)
    if not (8 <= len(nonce) <= 128) or not signatures_match(expected, received):
        return "firma inválida"
    if not cache.add(NONCE_PREFIX + key + ":" + nonce, 1, timeout=HMAC_TOLERANCE_SECONDS * 2):
        return "nonce repetido"
    return ""


# --- the API --------------------------------------------------------------------------------


def _validate(lender: Lender, payload: Any) -> tuple[list[tuple[str, str]], Product | None]:
    if not isinstance(payload, dict):
        return [("cuerpo", "Debe ser un objeto JSON.")], None
    errors = []
    if not (isinstance(payload.get("referencia"), str) and 1 <= len(payload["referencia"]) <= 255):
        errors.append(("referencia", "Obligatoria: de 1 a 255 caracteres."))
    product = Product.objects.filter(lender=lender, product_id=payload.get("producto"), is_active=True).first()
    if product is None:
        errors.append(("producto", "No es un producto de esta entidad."))
    client = payload.get("cliente") if isinstance(payload.get("cliente"), dict) else {}
    if client.get("tipoDocumento") not in services.DOCUMENT_TYPES:
        errors.append(("cliente.tipoDocumento", "Tipo de documento no válido."))
    if not (isinstance(client.get("documento"), str) and client["documento"].isalnum()):
        errors.append(("cliente.documento", "Obligatorio: letras o dígitos."))
    if not (isinstance(client.get("nombre"), str) and client["nombre"].strip()):
        errors.append(("cliente.nombre", "Obligatorio."))
    income = client.get("ingresoMensual")
    if isinstance(income, bool) or not isinstance(income, int) or income <= 0:
        errors.append(("cliente.ingresoMensual", "Obligatorio: un entero positivo."))
    return errors, product


def sandbox_mapped_request(*, lender: Lender, payload: Any, portal_url: str) -> services.SandboxAnswer:
    """POST solicitudes: the stored answer for this referencia, or a new one by the rules (a probe's:
    RECHAZADO, kept nowhere)."""
    probe = services.sandbox_probe_named(payload, "referencia")
    if probe:
        return services.SandboxAnswer(200, {"data": {"referencia": probe, "estado": "RECHAZADO", "radicado": "PRUEBA",
                                                     "motivo": {"codigo": "PRUEBA", "descripcion": "Sondeo"}, "ofertas": []}})
    errors, product = _validate(lender, payload)
    if errors:
        return _errors(*errors)
    reference = payload["referencia"]
    existing = SandboxApplication.objects.filter(lender=lender, tracking_id=reference).first()
    knobs = services.sandbox_settings_for(lender)
    if existing is not None:
        body = _current(existing)
        return services.SandboxAnswer(200, {"data": {**body, "radicado": services.sandbox_repeat_reference(
            knobs, body["radicado"], prefix="RAD-")}})
    filed = f"RAD-{secrets.token_hex(5).upper()}"
    income, requested = payload["cliente"]["ingresoMensual"], payload.get("montoSolicitado")
    final = _final(product, reference, filed, income, requested, portal_url)
    fields: dict[str, Any] = {"decision": final["estado"], "decision_body": final}
    pending = str(income).endswith(services.PENDING_SUFFIX) or knobs.pending_then_resolve
    if final["estado"] == "RECHAZADO" and not pending and services.sandbox_rejection_as_error(knobs):
        return services.sandbox_rejection_as_error(knobs)
    if pending:
        fields.update(decision="EN_ESTUDIO", resolution_body=final,
                      resolves_at=timezone.now() + timedelta(seconds=knobs.pending_seconds),
                      decision_body={"referencia": reference, "estado": "EN_ESTUDIO", "radicado": filed, "motivo": None,
                                     "ofertas": []})
    try:
        with transaction.atomic():
            application = SandboxApplication.objects.create(
                lender=lender, tracking_id=reference, application_ref=filed, product_id=product.product_id, **fields
            )
    except IntegrityError:
        application = SandboxApplication.objects.get(lender=lender, tracking_id=reference)
    return services.SandboxAnswer(200, {"data": _current(application)})


def _final(product: Product, reference: str, filed: str, income: int, requested: Any, portal_url: str) -> dict[str, Any]:
    base = {"referencia": reference, "radicado": filed}
    if income < services.REJECT_BELOW_INCOME:
        return {**base, "estado": "RECHAZADO", "motivo": {"codigo": "R01", "descripcion": "Ingresos insuficientes"},
                "ofertas": []}
    offers = services.sandbox_offers(
        product=product, income=income, requested_amount=Decimal(str(requested)) if requested else None,
        offer_url=f"{portal_url}?ref={filed}",
    )
    if not offers:
        return {**base, "estado": "RECHAZADO", "motivo": {"codigo": "R02", "descripcion": "Sin capacidad de pago"},
                "ofertas": []}
    return {**base, "estado": "APROBADO", "motivo": None, "ofertas": [
        {"id": offer["offerId"], "monto": offer["amount"], "plazo": offer["termMonths"], "cuota": offer["monthlyPayment"],
         "tasa": offer["annualRate"], "url": offer["offerUrl"]} for offer in offers
    ]}


def _current(application: SandboxApplication) -> dict[str, Any]:
    if application.decision == "EN_ESTUDIO" and application.resolves_at and application.resolves_at <= timezone.now():
        SandboxApplication.objects.filter(pk=application.pk, decision="EN_ESTUDIO").update(
            decision=application.resolution_body["estado"], decision_body=application.resolution_body,
            updated_at=timezone.now(),
        )
        application.refresh_from_db()
    return application.decision_body


def sandbox_mapped_get(*, lender: Lender, reference: str) -> services.SandboxAnswer:
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=reference).first()
    if application is None:
        return _errors(("referencia", "No hay solicitud con esa referencia."))
    return services.SandboxAnswer(200, {"data": _current(application)})


def sandbox_mapped_file(*, lender: Lender, payload: Any, portal_url: str) -> services.SandboxAnswer:
    """POST radicaciones: the signing URL for an approved request's offer (the same on repeat)."""
    if not isinstance(payload, dict):
        return _errors(("cuerpo", "Debe ser un objeto JSON."))
    application = SandboxApplication.objects.filter(lender=lender, tracking_id=payload.get("referencia")).first()
    if application is None:
        return _errors(("referencia", "No hay solicitud con esa referencia."))
    if application.application_body:
        return services.SandboxAnswer(200, {"data": application.application_body})
    current = _current(application)
    client = payload.get("cliente") if isinstance(payload.get("cliente"), dict) else {}
    errors = []
    if current["estado"] != "APROBADO" or payload.get("oferta") not in {offer["id"] for offer in current["ofertas"]}:
        errors.append(("oferta", "No es una oferta aprobada para esta referencia."))
    if not (isinstance(client.get("correo"), str) and "@" in client["correo"]):
        errors.append(("cliente.correo", "Obligatorio."))
    if not (isinstance(client.get("celular"), str) and services.PHONE.match(client["celular"])):
        errors.append(("cliente.celular", "Obligatorio: de 7 a 15 dígitos."))
    if errors:
        return _errors(*errors)
    body = {"estado": "RADICADA", "urlFirma": f"{portal_url}?ref={application.application_ref}"}
    SandboxApplication.objects.filter(pk=application.pk, application_body__isnull=True).update(
        application_body=body, updated_at=timezone.now())
    application.refresh_from_db()
    return services.SandboxAnswer(200, {"data": application.application_body})


def setup(lender: Lender, *, auth: str = MappedApi.Auth.API_KEY_HEADER) -> None:
    """A mapped lender reaches this sandbox through the description staff would write for it."""
    MappedApi.objects.get_or_create(lender=lender, defaults={"auth": auth, **SANDBOX_MAPPED_API})


# --- the views ------------------------------------------------------------------------------


@require_GET
@lender_api(STYLE, refusal)
def health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"estado": "ok"})


@require_POST
@lender_api(STYLE, refusal)
def new_request(request: HttpRequest, lender: Lender) -> HttpResponse:
    answer = sandbox_mapped_request(lender=lender, payload=views.request_json(request),
                                    portal_url=views.portal_url(request, lender))
    return views.json_answer(answer)


@require_GET
@lender_api(STYLE, refusal)
def request_detail(request: HttpRequest, lender: Lender, reference: str) -> HttpResponse:
    return views.json_answer(sandbox_mapped_get(lender=lender, reference=reference))


@require_POST
@lender_api(STYLE, refusal)
def filings(request: HttpRequest, lender: Lender) -> HttpResponse:
    answer = sandbox_mapped_file(lender=lender, payload=views.request_json(request),
                                 portal_url=views.portal_url(request, lender))
    return views.json_answer(answer)


SANDBOX = SandboxStyle(
    key=STYLE,
    path="mapped",
    urlpatterns=[
        path("", health, name="mapped-health"),
        path("solicitudes", new_request, name="mapped-requests"),
        path("solicitudes/<path:reference>", request_detail, name="mapped-request"),
        path("radicaciones", filings, name="mapped-filings"),
    ],
    # Every auth the description can choose: an API key (header or bearer) and an HMAC key pair.
    credentials=lambda: {"api_key": f"sandbox-{secrets.token_hex(8)}", "hmac_key": f"gpk_{secrets.token_hex(4)}",
                         "hmac_secret": secrets.token_hex(16)},
    setup=setup,
    demo_lender={
        # A lender with a plain JSON API described in admin (Lenders › Mapped APIs): no code.
        "code": "coopunion", "name": "Cooperativa Unión",
        "product": {"product_id": "ln_personal_02", "name": "Crédito solidario", "name_en": "Solidarity loan", "kind": "personal",
                    "min_amount": 500_000, "max_amount": 12_000_000, "min_term_months": 6, "max_term_months": 36,
                    "min_annual_rate": "0.1700", "max_annual_rate": "0.2600"},
        "listing": {"title": "Crédito solidario Cooperativa Unión", "tagline": "Tasa de cooperativa, sin afiliación previa",
                    "highlights": "Cuota fija\nAbonos sin penalidad",
                    "title_en": "Cooperativa Unión solidarity loan",
                    "tagline_en": "A cooperative's rate, no prior membership",
                    "highlights_en": "Fixed monthly payment\nPay early with no penalty"},
        "origins": ["billeteraya"], "priority": 40,
        "terms": {"apr": "0.2750", "monthly_fee": 0},
        "campaign": {"price_per_lead": 9_000, "price_per_approved": 30_000, "budget": 20_000_000,
                     "daily_lead_cap": 200},
        "origin_caps": {},
    },
    contract=ContractData(refused_field="cliente.tipoDocumento"),
)
