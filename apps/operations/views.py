"""GET /health/live, GET /health/ready and GET /metrics.

Plain Django views, answered before any session, login or template work: a probe every few
seconds costs no database query for liveness and a handful of round trips for readiness.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from apps.operations.collectors import PlatformCollector
from apps.operations.health import readiness
from prosperas.inbound.body import client_ip
from prosperas.metrics import metrics_exposition


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is asked (a database outage must not restart web
    processes that would come back to the same outage)."""
    return JsonResponse({"status": "live"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis and the broker answer and every migration is applied, else 503;
    both with every check's result and the worker and beat heartbeats."""
    is_ready, body = readiness()
    return JsonResponse(body, status=200 if is_ready else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a bearer token (METRICS_TOKEN) or an address in
    METRICS_ALLOWED_NETWORKS; with neither configured, for nobody."""
    if not metrics_allowed(request):
        return JsonResponse({"error": "forbidden", "message": "Send Authorization: Bearer <METRICS_TOKEN>, or "
                                      "scrape from an address in METRICS_ALLOWED_NETWORKS."},
                            status=403, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return HttpResponse(metrics_exposition([PlatformCollector()]), content_type=CONTENT_TYPE_LATEST)


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in settings.METRICS_ALLOWED_NETWORKS)
