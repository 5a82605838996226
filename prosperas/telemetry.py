"""Optional error and trace export: Sentry (SENTRY_DSN) and OpenTelemetry
(OTEL_EXPORTER_OTLP_ENDPOINT). Both are off unless their variable is set; `telemetry_configure`
runs once per process (prosperas/apps.py), web, worker, beat and commands alike.

Personal data never leaves in an error report:
- nothing personal is collected by the SDK itself (`data_collection`, which replaces
  `send_default_pii=False`): no user or client address, cookies, request bodies, query strings,
  SQL parameters, task arguments or frame variables;
- `event_scrub` (before_send) masks the value under every personal key (PERSONAL_KEYS, and
  sentry-sdk's own list of secret keys) at any depth, and masks by value, as the stored lender
  exchanges are masked: every personal value of the journey the event concerns (given by the
  sources the apps register with `personal_values_source_register`, read from the bound log
  context), and anything shaped like an email address, a Colombian mobile number, a document
  number or an amount of money.

Traces carry no personal data either: the instrumentations record URLs, routes and SQL with its
placeholders, never request bodies or query parameters (tests/test_telemetry.py checks it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from prosperas.logcontext import log_context

logger = logging.getLogger(__name__)

MASK = "[personal]"
# Keys whose value is personal wherever they appear in an event (request data, extra, contexts).
PERSONAL_KEYS = [
    "document_number", "documentNumber", "full_name", "fullName", "first_name", "last_name", "email", "phone",
    "mobile", "birth_date", "birthDate", "address", "address_line", "monthly_income", "income", "password1",
    "password2", "nombre", "cedula", "celular", "correo", "direccion",
]
# Shapes of personal values, masked wherever they appear: emails, Colombian mobiles (+57 3xx...),
# long digit runs (document numbers, incomes), amounts written with thousands separators.
PERSONAL_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    re.compile(r"(?<!\d)(?:\+?57)?3\d{9}(?!\d)"),
    re.compile(r"(?<![\w.,])\d{1,3}(?:[.,]\d{3}){2,}(?![\w]|[.,]\d)"),
    re.compile(r"(?<![\w-])\d{6,}(?![\w-])"),
]
MIN_VALUE_LENGTH = 4

PersonalValuesSource = Callable[[dict[str, str]], Iterable[str]]
_sources: list[PersonalValuesSource] = []


def personal_values_source_register(source: PersonalValuesSource) -> None:
    """An app that holds personal data gives, for a log context (request id, lead id, tracking
    ID), the values to mask in an error report about it (apps/leads/apps.py registers the journey's)."""
    if source not in _sources:
        _sources.append(source)


def personal_values_now() -> list[str]:
    context, values = log_context(), []
    for source in _sources:
        try:
            values += [str(value) for value in source(context) if value]
        except Exception:  # noqa: BLE001 - an error report must still go out, masked by shape
            logger.warning("A personal values source failed while scrubbing an error report.", exc_info=True)
    return sorted({value for value in values if len(value) >= MIN_VALUE_LENGTH}, key=len, reverse=True)


def text_scrub(text: str, values: list[str]) -> str:
    for value in values:
        text = re.sub(re.escape(value), MASK, text, flags=re.IGNORECASE)
    for pattern in PERSONAL_PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def _is_personal_key(key: object) -> bool:
    from sentry_sdk.scrubber import DEFAULT_DENYLIST

    return str(key).lower() in {name.lower() for name in PERSONAL_KEYS + DEFAULT_DENYLIST}


def _scrub(data: Any, values: list[str]) -> Any:
    if isinstance(data, str):
        return text_scrub(data, values)
    if isinstance(data, dict):
        return {key: MASK if _is_personal_key(key) and isinstance(value, (str, int, float))
                else _scrub(value, values) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_scrub(item, values) for item in data]
    return data


def event_scrub(event: dict, hint: dict | None = None) -> dict:
    """sentry-sdk's before_send (and before_send_transaction): the event with every string masked."""
    return _scrub(event, personal_values_now())


def sentry_options(dsn: str, *, environment: str, traces_sample_rate: float, transport: Any = None) -> dict:
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options = {
        "dsn": dsn, "environment": environment, "traces_sample_rate": traces_sample_rate,
        # What sentry-sdk collects on its own: no user, cookies, bodies, query strings, SQL
        # parameters, queue payloads or frame variables. `data_collection` is the successor of
        # send_default_pii=False (deprecated in sentry-sdk 2.7x), spelled out category by category.
        "data_collection": {
            "user_info": False, "cookies": {"mode": "off"}, "http_headers": {"request": {"mode": "denylist"}},
            "http_bodies": [], "url_query_params": {"mode": "off"}, "database_query_data": False, "queues": False,
            "stack_frame_variables": False,
        },
        "before_send": event_scrub, "before_send_transaction": event_scrub,
        "integrations": [DjangoIntegration(), CeleryIntegration()],
    }
    if transport is not None:
        options["transport"] = transport
    return options


def sentry_configure(dsn: str, *, environment: str = "production", traces_sample_rate: float = 0.0,
                     transport: Any = None) -> None:
    import sentry_sdk

    sentry_sdk.init(**sentry_options(dsn, environment=environment, traces_sample_rate=traces_sample_rate,
                                     transport=transport))


def tracing_configure(*, service_name: str, exporter: Any = None, batch: bool = True) -> Any:
    """A tracer provider exporting to OTLP over HTTP (the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT,
    read by the exporter itself) or to `exporter`; Django, Celery, requests and psycopg
    instrumented. Returns the provider."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), RequestsInstrumentor(), PsycopgInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    return provider


def tracing_unconfigure() -> None:
    """Removes the instrumentations (tests)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), RequestsInstrumentor(), PsycopgInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def telemetry_configure() -> None:
    """Once per process, from settings: each export only when its variable is set."""
    from django.conf import settings

    if settings.SENTRY_DSN:
        sentry_configure(settings.SENTRY_DSN, environment=settings.SENTRY_ENVIRONMENT,
                         traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE)
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        tracing_configure(service_name=settings.OTEL_SERVICE_NAME)
