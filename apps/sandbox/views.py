"""Sandbox lender endpoints, one set per API style, and the lender portal page.

Every view answers 404 unless settings.SANDBOX_ENABLED. The API views authenticate as the
style does (embedded: X-Api-Key; async and offers: an OAuth2 bearer token from the sandbox's own
token endpoint; mapped: whatever the lender's MappedApi says), then wait the lender's latency
without holding a database connection and play one step of its failure script before answering
(see SandboxLenderSettings.failure_script). Token endpoints are neither delayed nor scripted.

The sandbox runs inside the platform's own server: under gunicorn's gthread workers each slow
answer holds one thread and no database connection, so a fan-out to many sandbox lenders is
answered side by side (README: "Running the sandbox under load").
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.lenders.db import database_slot, release_db_connection, waiting_on_lender
from apps.lenders.models import Lender
from apps.sandbox import async_lead, mapped_json, offers_api, services
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from prosperas.inbound.signing import signatures_match

logger = logging.getLogger(__name__)

# Hand-off parameters the platform adds to an offer URL, passed on to the portal page.
PORTAL_PARAMETERS = ("click_id", "product_id", "listing_id")
MALFORMED_BODY = b'{"trackingId": "sandbox", "decision": "approved", "offers": [{"offerId": '


def _sandbox_enabled(view: Callable) -> Callable:
    """404 unless SANDBOX_ENABLED; and the view holds no database connection when it is done.

    A caller's keep-alive connection pins a server thread between requests (for as long as
    the caller's pool keeps it: under the test live server, until the end of the run), and
    a WSGI application may not answer `Connection: close`. So the sandbox does not keep a
    database connection across requests: under a real server (gunicorn) it borrows one of the
    process's pooled connections for the request (apps/lenders/db.py: no connect per request,
    and at most LENDER_DB_CONNECTIONS per process however many slow answers are under way);
    under the tests' live server, in the test process, it closes its own when done.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not settings.SANDBOX_ENABLED:
            raise Http404("The sandbox is disabled.")
        if not settings.TESTING:
            with database_slot():
                return view(request, *args, **kwargs)
        try:
            return view(request, *args, **kwargs)
        finally:
            release_db_connection()

    return wrapper


def _json(answer: services.SandboxAnswer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status)


STYLE_AUTH = {
    "embedded": lambda lender, request: _api_key_refusal(lender, request),
    "async_lead": lambda lender, request: _bearer_refusal(lender, request),
    "offers_api": lambda lender, request: _bearer_refusal(lender, request),
    "mapped_json": lambda lender, request: _mapped_refusal(lender, request),
}


def _lender_api(style: str) -> Callable[[Callable], Callable]:
    """Authenticate as the style does, then play the next failure-script step; a normal step runs the view."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @_sandbox_enabled
        @wraps(view)
        def wrapper(request: HttpRequest, lender_code: str, *args, **kwargs):
            return _answer(view, style, request, lender_code, *args, **kwargs)

        return wrapper

    return decorate


def _answer(view: Callable, style: str, request: HttpRequest, lender_code: str, *args, **kwargs) -> HttpResponse:
    lender, knobs = services.sandbox_lender_for(code=lender_code, style=style)
    if lender is None:
        return JsonResponse({"errors": [{"field": "lender", "message": "No sandbox lender by that code."}]}, status=404)
    refusal = STYLE_AUTH[style](lender, request)
    if refusal is not None:
        return refusal
    step, knobs = services.sandbox_script_step(lender=lender, knobs=knobs)
    request.sandbox_knobs = knobs  # the views read the knobs from here, not from the database again
    # The answer is worked out first and the latency (or stall) waited out after, holding no
    # database connection: a hundred slow answers at once cost threads, not connections, and
    # none of them queues for the database when their time is up.
    if step in ("ok", "stall"):
        response = view(request, lender, *args, **kwargs)
        _sleep_without_database(knobs.latency_ms / 1000 + (knobs.stall_seconds if step == "stall" else 0))
        return response
    _sleep_without_database(knobs.latency_ms / 1000)
    return _scripted_answer(request, step, knobs)


def _api_key_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    expected = str((lender.credentials or {}).get("api_key") or "")
    if not expected or not signatures_match(expected, request.headers.get("X-Api-Key", "")):
        return JsonResponse({"errors": [{"field": "X-Api-Key", "message": "Unknown API key."}]}, status=401)
    return None


def _bearer_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    if not services.sandbox_token_valid(lender=lender, authorization=request.headers.get("Authorization", "")):
        response = JsonResponse({"error": "invalid_token", "message": "The access token is missing, invalid or expired."},
                                status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return None


def _mapped_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    refusal = mapped_json.sandbox_mapped_authenticate(lender=lender, request=request)
    return JsonResponse({"errores": [{"campo": "autenticacion", "mensaje": refusal}]}, status=401) if refusal else None


def _scripted_answer(request: HttpRequest, step: str, knobs: SandboxLenderSettings) -> HttpResponse:
    """A failure step's answer ("ok" and "stall" answer normally, the stall long after any
    caller's deadline: see _answer)."""
    if step == "reset":
        return _reset(request)
    if step == "malformed":
        return HttpResponse(MALFORMED_BODY, status=200, content_type="application/json")
    status = int(step)
    if status == 422:
        return JsonResponse({"errors": [{"field": "sandbox", "message": "Scripted validation error."}]}, status=422)
    response = JsonResponse({"error": f"Scripted HTTP {status}."}, status=status)
    if status == 429:
        response["Retry-After"] = "1"
    return response


def _sleep_without_database(seconds: float) -> None:
    """Sleep holding no database connection (nor a pooled one): a stalled request must not pin one."""
    if seconds <= 0:
        return
    with waiting_on_lender():
        time.sleep(seconds)


def _reset(request: HttpRequest) -> HttpResponse:
    """Drop the connection without any answer.

    The server's socket is reached through the request body stream (Django's dev and live
    servers) or `gunicorn.socket`. SO_LINGER 0 makes the final close a TCP reset, and the
    shutdown ends the exchange at once: the caller sees the connection closed or reset with no
    HTTP answer. The streaming body then raises ConnectionResetError, which the WSGI handler
    takes for a client gone away, so nothing more is written. Under a server whose socket
    cannot be reached, the step falls back to `malformed` (a 200 that is not JSON), the nearest
    technical failure that cannot leave the caller hanging.
    """
    sock = _server_socket(request)
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            sock = None
    if sock is None:
        logger.warning("sandbox reset step: no socket to drop under this server; answering malformed instead")
        return HttpResponse(MALFORMED_BODY, status=200, content_type="application/json")
    return StreamingHttpResponse(_dropped_stream(), content_type="application/json")


def _dropped_stream() -> Iterator[bytes]:
    raise ConnectionResetError("sandbox reset step: the connection was dropped on purpose")
    yield b""  # unreachable: makes this a generator, so the error is raised while streaming.


def _server_socket(request: HttpRequest) -> socket.socket | None:
    sock = request.META.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return sock
    stream = request.META.get("wsgi.input")
    reader = getattr(getattr(stream, "_read", None), "__self__", None)  # django LimitedStream -> rfile
    sock = getattr(getattr(reader, "raw", None), "_sock", None)  # BufferedReader -> SocketIO -> socket
    return sock if isinstance(sock, socket.socket) else None


def _payload(request: HttpRequest):
    try:
        return json.loads(request.body)
    except ValueError:
        return None


# --- the lender APIs ------------------------------------------------------------------------


def _portal_url(request: HttpRequest, lender: Lender) -> str:
    return request.build_absolute_uri(reverse("sandbox:portal", args=[lender.code]))


@require_GET
@_lender_api("embedded")
def embedded_health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@_lender_api("embedded")
def decisions(request: HttpRequest, lender: Lender) -> HttpResponse:
    return _json(services.sandbox_decide(lender=lender, payload=_payload(request), portal_url=_portal_url(request, lender),
                                         knobs=request.sandbox_knobs))


@require_GET
@_lender_api("embedded")
def decision_detail(request: HttpRequest, lender: Lender, tracking_id: str) -> HttpResponse:
    return _json(services.sandbox_decision_get(lender=lender, tracking_id=tracking_id))


@require_POST
@_lender_api("embedded")
def applications(request: HttpRequest, lender: Lender) -> HttpResponse:
    return _json(services.sandbox_apply(lender=lender, payload=_payload(request), portal_url=_portal_url(request, lender)))


@require_POST
@csrf_exempt
@_sandbox_enabled
def token(request: HttpRequest, style: str, lender_code: str) -> HttpResponse:
    """The OAuth2 token endpoint of the async and offers sandbox lenders (client credentials)."""
    lender = Lender.objects.filter(code=lender_code, adapter=style).first()
    if lender is None:
        return JsonResponse({"error": "invalid_client"}, status=401)
    return _json(services.sandbox_token_issue(lender=lender, form=request.POST))


@require_GET
@_lender_api("async_lead")
def async_health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@_lender_api("async_lead")
def async_leads(request: HttpRequest, lender: Lender) -> HttpResponse:
    go = request.build_absolute_uri(reverse("sandbox:async-go-base", args=[lender.code]))
    return _json(async_lead.sandbox_lead_create(lender=lender, payload=_payload(request), go_base_url=go.rstrip("/")))


@require_GET
@_lender_api("async_lead")
def async_lead_detail(request: HttpRequest, lender: Lender, lead_uuid: str) -> HttpResponse:
    return _json(async_lead.sandbox_lead_get(lender=lender, lead_uuid=lead_uuid))


@require_GET
@_sandbox_enabled
def async_go(request: HttpRequest, lender_code: str, lead_uuid: str, product_id: str) -> HttpResponse:
    """A product's lenderOfferUrl: the consumer lands here from the hand-off."""
    lender = Lender.objects.filter(code=lender_code, adapter="async_lead").first()
    reference = async_lead.sandbox_product_follow(lender=lender, lead_uuid=lead_uuid, product_id=product_id) if lender else None
    if reference is None:
        raise Http404("No such lead or product.")
    query = urlencode({"ref": reference, **{k: v for k, v in request.GET.items() if k in PORTAL_PARAMETERS}})
    return HttpResponseRedirect(f"{reverse('sandbox:portal', args=[lender.code])}?{query}")


@require_GET
@_lender_api("offers_api")
def offers_health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_POST
@_lender_api("offers_api")
def offers(request: HttpRequest, lender: Lender) -> HttpResponse:
    payload = _payload(request)
    refusal = offers_api.partner_code_error(lender=lender, payload=payload)
    if refusal is not None:
        return _json(refusal)
    return _json(offers_api.sandbox_offers_answer(
        lender=lender, payload=payload, idempotency_key=request.headers.get("Idempotency-Key", ""),
        portal_url=_portal_url(request, lender),
    ))


@require_GET
@_lender_api("mapped_json")
def mapped_health(request: HttpRequest, lender: Lender) -> HttpResponse:
    return JsonResponse({"estado": "ok"})


@require_POST
@_lender_api("mapped_json")
def mapped_requests(request: HttpRequest, lender: Lender) -> HttpResponse:
    return _json(mapped_json.sandbox_mapped_request(lender=lender, payload=_payload(request),
                                                    portal_url=_portal_url(request, lender)))


@require_GET
@_lender_api("mapped_json")
def mapped_request_detail(request: HttpRequest, lender: Lender, reference: str) -> HttpResponse:
    return _json(mapped_json.sandbox_mapped_get(lender=lender, reference=reference))


@require_POST
@_lender_api("mapped_json")
def mapped_filings(request: HttpRequest, lender: Lender) -> HttpResponse:
    return _json(mapped_json.sandbox_mapped_file(lender=lender, payload=_payload(request),
                                                 portal_url=_portal_url(request, lender)))


# --- the lender portal ----------------------------------------------------------------------


def _portal_context(request: HttpRequest, lender: Lender, values, **extra) -> dict:
    ref = values.get("ref", "")
    application = SandboxApplication.objects.filter(lender=lender, application_ref=ref).first() if ref else None
    return {
        "lender": lender,
        "ref": ref,
        "application": application,
        "click_id": values.get("click_id", ""),
        "product_id": values.get("product_id", ""),
        "listing_id": values.get("listing_id", ""),
        "statuses": services.POSTBACK_STATUSES,
        **extra,
    }


def _portal_lender(lender_code: str) -> Lender:
    lender = Lender.objects.filter(code=lender_code).first()
    if lender is None:
        raise Http404("No sandbox lender by that code.")
    return lender


@require_GET
@_sandbox_enabled
def portal(request: HttpRequest, lender_code: str) -> HttpResponse:
    lender = _portal_lender(lender_code)
    return render(request, "sandbox/portal.html", _portal_context(request, lender, request.GET))


@require_http_methods(["POST"])
@_sandbox_enabled
def portal_postback(request: HttpRequest, lender_code: str) -> HttpResponse:
    lender = _portal_lender(lender_code)
    status = request.POST.get("status", "")
    context = _portal_context(request, lender, request.POST, selected_status=status)
    if status not in services.POSTBACK_STATUSES:
        context["postback_error"] = "Choose a status."
        return render(request, "sandbox/portal.html", context, status=400)
    answer = services.sandbox_postback_send(
        lender=lender, click_id=request.POST.get("click_id", ""), status=status,
        product_id=request.POST.get("product_id", ""), url=request.build_absolute_uri("/api/v1/postbacks"),
    )
    context["postback_sent"] = True
    context["postback_status"] = answer.status
    context["postback_answer"] = json.dumps(answer.body, indent=2, ensure_ascii=False)
    return render(request, "sandbox/portal.html", context)
