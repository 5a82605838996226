"""What every sandbox lender's views share, and the lender portal page.

Each style's own views and URL patterns live in its module (embedded.py, async_lead.py,
offers_api.py, mapped_json.py), built with `lender_api` from here. Every view answers 404 unless
settings.SANDBOX_ENABLED. The API views authenticate as the style does (an X-Api-Key, an OAuth2
bearer token from the sandbox's own token endpoint, or whatever the style checks), then wait
the lender's latency without holding a database connection and play one step of its failure
script before answering (see SandboxLenderSettings.failure_script). Token endpoints are neither
delayed nor scripted.

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

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.lenders.models import Lender
from apps.sandbox import services
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from apps.sandbox.postbacks import sandbox_postbacks_dispatch
from prosperas.db import connection_give_back, database_released
from prosperas.inbound.signing import signatures_match

logger = logging.getLogger(__name__)

# Hand-off parameters the platform adds to an offer URL, passed on to the portal page.
PORTAL_PARAMETERS = ("click_id", "product_id", "listing_id")
MALFORMED_BODY = b'{"trackingId": "sandbox", "decision": "approved", "offers": [{"offerId": '


def _sandbox_enabled(view: Callable) -> Callable:
    """404 unless SANDBOX_ENABLED; and the view holds no database connection when it is done.

    A caller's keep-alive connection pins a server thread between requests (for as long as
    the caller's pool keeps it: under the test live server, until the end of the run), and
    a WSGI application may not answer `Connection: close`. So the sandbox gives its database
    connection back to the process's pool when done (prosperas/db.py), whatever the server.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not settings.SANDBOX_ENABLED:
            raise Http404("The sandbox is disabled.")
        try:
            return view(request, *args, **kwargs)
        finally:
            connection_give_back()

    return wrapper


def json_answer(answer: services.SandboxAnswer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status)


# How a style's sandbox refuses a request: None when it is accepted, else the refusal to send.
Authenticate = Callable[[Lender, HttpRequest], HttpResponse | None]


def lender_api(style: str, authenticate: Authenticate) -> Callable[[Callable], Callable]:
    """A sandbox lender's API view: find the lender of `style`, `authenticate` the request,
    then play the next failure-script step; a normal step runs the view with the lender."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @_sandbox_enabled
        @wraps(view)
        def wrapper(request: HttpRequest, lender_code: str, *args, **kwargs):
            return _answer(view, style, authenticate, request, lender_code, *args, **kwargs)

        return wrapper

    return decorate


def _answer(
    view: Callable, style: str, authenticate: Authenticate, request: HttpRequest, lender_code: str, *args, **kwargs
) -> HttpResponse:
    received = time.monotonic()
    lender, knobs = services.sandbox_lender_for(code=lender_code, style=style)
    if lender is None:
        return JsonResponse({"errors": [{"field": "lender", "message": "No sandbox lender by that code."}]}, status=404)
    refusal = authenticate(lender, request)
    if refusal is not None:
        return refusal
    step, knobs = services.sandbox_script_step(lender=lender, knobs=knobs)
    request.sandbox_knobs = knobs  # the views read the knobs from here, not from the database again
    # The answer is worked out first and the latency (or stall) waited out after, holding no
    # database connection: a hundred slow answers at once cost threads, not connections, and
    # none of them queues for the database when their time is up. The latency is the lender's
    # whole answer time, counted from the request's arrival (its own work included), as a real
    # lender's is: the platform's overhead is then what a caller measures beyond it.
    if step in ("ok", "stall"):
        response = view(request, lender, *args, **kwargs)
        _sleep_without_database(_latency_left(knobs, received) + (knobs.stall_seconds if step == "stall" else 0))
        return response
    _sleep_without_database(_latency_left(knobs, received))
    return _scripted_answer(request, step, knobs)


def _latency_left(knobs: SandboxLenderSettings, received: float) -> float:
    return knobs.latency_ms / 1000 - (time.monotonic() - received)


def api_key_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    expected = str((lender.credentials or {}).get("api_key") or "")
    if not expected or not signatures_match(expected, request.headers.get("X-Api-Key", "")):
        return JsonResponse({"errors": [{"field": "X-Api-Key", "message": "Unknown API key."}]}, status=401)
    return None


def bearer_refusal(lender: Lender, request: HttpRequest) -> HttpResponse | None:
    if not services.sandbox_token_valid(lender=lender, authorization=request.headers.get("Authorization", "")):
        response = JsonResponse({"error": "invalid_token", "message": "The access token is missing, invalid or expired."},
                                status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return None


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
    with database_released():
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


def request_json(request: HttpRequest):
    try:
        return json.loads(request.body)
    except ValueError:
        return None


# --- shared by the styles' views ------------------------------------------------------------


def portal_url(request: HttpRequest, lender: Lender) -> str:
    """The lender portal page, where offer and redirect URLs send the consumer."""
    return request.build_absolute_uri(reverse("sandbox:portal", args=[lender.code]))


@require_POST
@csrf_exempt
@_sandbox_enabled
def token(request: HttpRequest, style: str, lender_code: str) -> HttpResponse:
    """The OAuth2 token endpoint of a style whose lender wants bearer tokens (client credentials):
    routed by that style's URL patterns, with `style` in the route's extra arguments."""
    lender = Lender.objects.filter(code=lender_code, adapter=style).first()
    if lender is None:
        return JsonResponse({"error": "invalid_client"}, status=401)
    return json_answer(services.sandbox_token_issue(lender=lender, form=request.POST))


# --- the lender portal ----------------------------------------------------------------------


# The portal speaks the consumer's language (the flow's cookie, or the browser's), as a lender's
# site would; the statuses keep their contract names beside the words.
POSTBACK_STATUS_LABELS = {
    "pre_approved": gettext_lazy("Preaprobado"), "approved": gettext_lazy("Aprobado"),
    "disbursed": gettext_lazy("Desembolsado"), "rejected": gettext_lazy("No aprobado"),
    "cancelled": gettext_lazy("Cancelado"),
}


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
        "statuses": [(status, POSTBACK_STATUS_LABELS[status]) for status in services.POSTBACK_STATUSES],
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
    knobs = services.sandbox_settings_for(lender)
    if knobs.handoff_refused and "click_id" in request.GET:  # a landing page that rejects our parameters
        return HttpResponse("Unknown parameter: click_id", status=400, content_type="text/plain")
    return render(request, "sandbox/portal.html", _portal_context(request, lender, request.GET))


@require_POST
@csrf_exempt
@_sandbox_enabled
def postbacks_send(request: HttpRequest, lender_code: str) -> HttpResponse:
    """Tell the sandbox lender to send its postbacks for these click_ids (the conformance kit's
    journeys): `{"click_ids": [...]}`, answered 202 at once; the postbacks follow from a
    background thread, as a lender's would (postbacks.sandbox_postbacks_dispatch). They go to this
    platform's own postback endpoint, never to an address the request names: signed postbacks
    are not handed to whoever asks."""
    lender = _portal_lender(lender_code)
    payload = request_json(request)
    click_ids = payload.get("click_ids") if isinstance(payload, dict) else None
    if not (isinstance(click_ids, list) and 0 < len(click_ids) <= 50
            and all(isinstance(c, str) and 0 < len(c) <= 255 for c in click_ids)):
        return JsonResponse({"errors": [{"field": "click_ids", "message": "Give 1 to 50 click_ids (strings)."}]},
                            status=400)
    sent = sandbox_postbacks_dispatch(lender=lender, knobs=services.sandbox_settings_for(lender), click_ids=click_ids,
                                      url=request.build_absolute_uri("/api/v1/postbacks"))
    return JsonResponse({"accepted": len(click_ids), "postbacks": sent}, status=202)


@require_http_methods(["POST"])
@_sandbox_enabled
def portal_postback(request: HttpRequest, lender_code: str) -> HttpResponse:
    lender = _portal_lender(lender_code)
    status = request.POST.get("status", "")
    context = _portal_context(request, lender, request.POST, selected_status=status)
    if status not in services.POSTBACK_STATUSES:
        context["postback_error"] = _("Elige un estado.")
        return render(request, "sandbox/portal.html", context, status=400)
    answer = services.sandbox_postback_send(
        lender=lender, click_id=request.POST.get("click_id", ""), status=status,
        product_id=request.POST.get("product_id", ""), url=request.build_absolute_uri("/api/v1/postbacks"),
    )
    context["postback_sent"] = True
    context["postback_status"] = answer.status
    context["postback_answer"] = json.dumps(answer.body, indent=2, ensure_ascii=False)
    return render(request, "sandbox/portal.html", context)
