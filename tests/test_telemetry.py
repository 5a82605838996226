"""Error and trace export (prosperas/telemetry.py): what leaves carries no personal value.

Sentry runs with a transport that keeps each envelope in memory (the exact bytes it would send);
OpenTelemetry with an in-memory span exporter. The consumer's values are canaries as in
tests/test_pii_canaries.py, looked for in every spelling, ignoring case.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
import sentry_sdk
from django.conf import settings
from django.test import Client
from django.urls import path
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.transport import Transport

from apps.leads.engine.requests import lead_extra_data_set
from prosperas import telemetry
from prosperas.logcontext import log_context_replace, log_context_restore
from tests.factories import LenderFactory, lead_awaiting_decision
from tests.test_pii_canaries import Canary, Findings

pytestmark = pytest.mark.django_db


class EnvelopeKeeper(Transport):
    """Keeps what would be sent to Sentry, serialized as it would go on the wire."""

    def __init__(self, options=None):
        super().__init__(options)
        self.sent: list[bytes] = []

    def capture_envelope(self, envelope) -> None:
        self.sent.append(envelope.serialize())


@pytest.fixture
def sentry_capture():
    keeper = EnvelopeKeeper()
    telemetry.sentry_configure("https://public@errors.prosperas.invalid/1", environment="test", transport=keeper)
    yield keeper
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: off again


def _canary_lead(canary: Canary):
    lead = lead_awaiting_decision(
        lender=LenderFactory(), document_number=canary.document, full_name=canary.full_name,
        monthly_income=canary.income, email=canary.email, phone=f"+57{canary.mobile}", birth_date=canary.birth_date,
    )
    lead_extra_data_set(lead=lead, values={"address_line": canary.address})
    return lead


def test_an_exported_error_about_a_journey_carries_no_canary_value(sentry_capture):
    canary = Canary()
    lead = _canary_lead(canary)
    token = log_context_replace({"request_id": "req-telemetry-1", "lead_id": str(lead.pk)})
    try:
        try:
            # The worst case: a message that quotes the consumer, and data under personal keys.
            raise ValueError(f"Lender refused {canary.full_name} ({canary.document}), {canary.email}, "
                             f"income {canary.income:,}, born {canary.birth_date}, mobile {canary.mobile}")
        except ValueError as error:
            sentry_sdk.set_extra("consumer", {"documentNumber": canary.document, "note": canary.address})
            sentry_sdk.capture_exception(error)
        logging.getLogger("apps.leads").error("Could not hand off %s at %s", canary.full_name, canary.address)
        sentry_sdk.flush()
    finally:
        log_context_restore(token)

    assert len(sentry_capture.sent) >= 2, "the error and the logged error were not exported"
    wire = b"\n".join(sentry_capture.sent).decode("utf-8", "replace")
    assert "ValueError" in wire
    findings = Findings([canary])
    findings.scan("sentry envelope", wire)
    assert not findings.found, findings.report()
    assert telemetry.MASK in wire


def _view_that_fails(request):
    """Reads the posted form, as a flow view does, then fails."""
    request.POST.get("full_name")
    raise RuntimeError("the view failed")


urlpatterns = [path("fails", _view_that_fails)]


@pytest.mark.urls(__name__)
def test_an_error_in_a_request_exports_neither_the_posted_form_nor_the_cookies(sentry_capture):
    canary = Canary()
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "canary-session-cookie-value"
    response = client.post("/fails?document=" + canary.document,
                           {"full_name": canary.full_name, "document_number": canary.document, "email": canary.email},
                           HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 500
    sentry_sdk.flush()
    wire = b"\n".join(sentry_capture.sent).decode("utf-8", "replace")
    assert "the view failed" in wire, "the request's error was not exported"
    findings = Findings([canary])
    findings.scan("sentry envelope", wire)
    assert not findings.found, findings.report()
    assert "canary-session-cookie-value" not in wire and "203.0.113.9" not in wire


def test_text_scrub_masks_shapes_of_personal_values_and_keeps_the_rest():
    text = "lead 42 of ana.perez@example.com +573001234567 cc 1020304050 income 3.200.000 took 1200 ms"
    scrubbed = telemetry.text_scrub(text, values=[])
    assert "ana.perez" not in scrubbed and "3001234567" not in scrubbed and "1020304050" not in scrubbed
    assert "3.200.000" not in scrubbed
    assert scrubbed.startswith("lead 42 of ") and scrubbed.endswith("took 1200 ms")


def test_traces_of_a_request_and_a_query_carry_no_canary_value():
    canary = Canary()
    lead = _canary_lead(canary)
    exporter = InMemorySpanExporter()
    telemetry.tracing_configure(service_name="prosperas-test", exporter=exporter, batch=False)
    try:
        Client().post("/health/live", {"full_name": canary.full_name, "document_number": canary.document},
                      QUERY_STRING="")
        Client().get("/health/live")
        # A query with the consumer's values as parameters, on a connection opened while instrumented.
        database = settings.DATABASES["default"]
        with psycopg.connect(host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"],
                             password=database["PASSWORD"] or None, dbname=database["NAME"]) as connection:
            connection.execute("SELECT %s::text, %s::text, %s::bigint",
                               [canary.full_name, canary.email, canary.income]).fetchall()
    finally:
        telemetry.tracing_unconfigure()
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert any("health" in name or name.startswith(("GET", "POST")) for name in names), names
    assert any(span.attributes.get("db.system") == "postgresql" or "SELECT" in span.name for span in spans), names
    findings = Findings([canary])
    for span in spans:
        findings.scan(f"span {span.name}", span.to_json())
    assert not findings.found, findings.report()
    assert lead.pk
