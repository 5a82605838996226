"""Every request's latency by view (the URL pattern's name, so a bounded set), method and status
class, in the metrics (prosperas/metrics.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from prosperas.metrics import histogram

REQUEST_SECONDS = histogram("http_request_duration_seconds", "Web requests: time to the response, by view.",
                            ["view", "method", "status"])
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unmatched"  # a 404 outside every pattern
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(view, method, f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response
