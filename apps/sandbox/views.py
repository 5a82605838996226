"""Sandbox lender endpoints (embedded style) and the lender portal page.

Every view answers 404 unless settings.SANDBOX_ENABLED. The API views authenticate the
lender's X-Api-Key against its Lender row, then play one step of its failure script before
answering (see SandboxLenderSettings.failure_script).
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from functools import wraps

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.lenders.models import Lender
from apps.postbacks.signing import signatures_match
from apps.sandbox import services
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings

logger = logging.getLogger(__name__)

MALFORMED_BODY = b'{"trackingId": "sandbox", "decision": "approved", "offers": [{"offerId": '


def _sandbox_enabled(view: Callable) -> Callable:
    """404 unless SANDBOX_ENABLED; and the view's database connection is closed when it is done.

    A caller's keep-alive connection pins a server thread between requests (for as long as
    the caller's pool keeps it: under the test live server, until the end of the run), and
    a WSGI application may not answer `Connection: close`. So the sandbox does not keep a
    database connection across requests; it is a test double, and the reconnect costs little.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not settings.SANDBOX_ENABLED:
            raise Http404("The sandbox is disabled.")
        try:
            return view(request, *args, **kwargs)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return wrapper


def _json(answer: services.SandboxAnswer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status)


def _lender_api(view: Callable) -> Callable:
    """Authenticate, then play the next failure-script step; a normal step runs the view.

    """

    @csrf_exempt
    @_sandbox_enabled
    @wraps(view)
    def wrapper(request: HttpRequest, lender_code: str, *args, **kwargs):
        return _answer(view, request, lender_code, *args, **kwargs)

    return wrapper


def _answer(view: Callable, request: HttpRequest, lender_code: str, *args, **kwargs) -> HttpResponse:
    lender = Lender.objects.filter(code=lender_code, adapter="embedded").first()
    if lender is None:
        return JsonResponse({"errors": [{"field": "lender", "message": "No sandbox lender by that code."}]}, status=404)
    expected = str((lender.credentials or {}).get("api_key") or "")
    if not expected or not signatures_match(expected, request.headers.get("X-Api-Key", "")):
        return JsonResponse({"errors": [{"field": "X-Api-Key", "message": "Unknown API key."}]}, status=401)
    step, knobs = services.sandbox_script_step(lender=lender)
    _sleep_without_database(knobs.latency_ms / 1000)
    scripted = _scripted_answer(request, step, knobs)
    if scripted is not None:
        return scripted
    return view(request, lender, *args, **kwargs)


def _scripted_answer(request: HttpRequest, step: str, knobs: SandboxLenderSettings) -> HttpResponse | None:
    if step == "ok":
        return None
    if step == "stall":
        _sleep_without_database(knobs.stall_seconds)
        return None  # then it answers normally, long after any caller's deadline.
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
    """Sleep holding no database connection: a stalled request must not pin one."""
    if seconds <= 0:
        return
    if not connection.in_atomic_block:
        connection.close()
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


# --- the lender API -------------------------------------------------------------------------


@require_POST
@_lender_api
def decisions(request: HttpRequest, lender: Lender) -> HttpResponse:
    portal = request.build_absolute_uri(reverse("sandbox:portal", args=[lender.code]))
    return _json(services.sandbox_decide(lender=lender, payload=_payload(request), portal_url=portal))


@require_GET
@_lender_api
def decision_detail(request: HttpRequest, lender: Lender, tracking_id: str) -> HttpResponse:
    return _json(services.sandbox_decision_get(lender=lender, tracking_id=tracking_id))


@require_POST
@_lender_api
def applications(request: HttpRequest, lender: Lender) -> HttpResponse:
    portal = request.build_absolute_uri(reverse("sandbox:portal", args=[lender.code]))
    return _json(services.sandbox_apply(lender=lender, payload=_payload(request), portal_url=portal))


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
