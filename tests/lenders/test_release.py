"""Per-lender field release (apps/lenders/release.py): what is not approved never leaves.

The wire test puts a recording TCP relay on loopback between the call engine and the sandbox
lender (served by live_server), so what is checked is the bytes that left the platform, not what
the platform says it sent.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from apps.leads.engine.attempt import lender_prequalify_attempt
from apps.leads.engine.requests import prequalify_request_build
from apps.leads.models import Lead
from apps.lenders.adapters.base import JOURNEY_FIELDS
from apps.lenders.models import Lender
from apps.lenders.release import consumer_release, lender_declared_fields, lender_field_policy, lender_released_fields
from apps.lenders.selectors import lender_required_fields
from tests.factories import LenderFactory, lead_with_journey_data
from tests.lenders.conftest import STYLES
from tests.test_pii_canaries import Canary


class RecordingRelay:
    """Accepts on a free loopback port and relays each connection to `target`, keeping every
    byte the client sent."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.connections = 0
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    with self.lock:
                        self.sent += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Gone, as a server that stops is: its connections too (the client keeps connections alive
        between calls, and a later relay may listen on this same port)."""
        self.listener.close()
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _through(relay: RecordingRelay, url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{relay.port}"))


def _canary_journey(lender: Lender, canary: Canary) -> Lead:
    return lead_with_journey_data(
        lender=lender, document_number=canary.document, full_name=canary.full_name, monthly_income=canary.income,
        email=canary.email, phone=f"+57{canary.mobile}", birth_date=canary.birth_date, requested_amount=3_123_457,
        extra_data={"address_line": canary.address, "city": "Villa" + canary.last_name, "postal_code": "110987"},
    )


def _values_by_field(canary: Canary) -> dict[str, list[str]]:
    year, month, day = canary.birth_date.split("-")
    return {
        "email": [canary.email, canary.email_local], "phone": [canary.mobile],
        "birth_date": [canary.birth_date, f"{month}/{day}/{year}"], "address_line": [canary.address],
        "city": ["Villa" + canary.last_name], "postal_code": ["110987"], "requested_amount": ["3123457"],
    }


@pytest.mark.parametrize("style", STYLES)
def test_an_unapproved_field_never_leaves_on_the_wire(sandbox_of, live_server, settings, style):
    # The relay's address is what the sandbox sees as the request's host.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    sandbox = sandbox_of(style)
    sandbox.script("")
    lender = sandbox.lender
    declared = lender_declared_fields(lender)
    approved = list(declared[:1])  # one declared field approved: it must leave when the request carries it
    target = urlsplit(live_server.url)
    relay = RecordingRelay(target.hostname, target.port)
    Lender.objects.filter(pk=lender.pk).update(base_url=_through(relay, lender.base_url), released_fields=approved)
    lender.refresh_from_db()
    canary = Canary()
    lead = _canary_journey(lender, canary)
    try:
        lender_prequalify_attempt(lead_id=lead.pk, lender_id=lender.pk)
    finally:
        relay.close()

    wire = bytes(relay.sent).decode("utf-8", "replace")
    assert relay.connections >= 1 and lead.tracking_id in wire, "the request did not go through the relay"
    leaked = {name: value for name, values in _values_by_field(canary).items() if name not in approved
              for value in values if value.lower() in wire.lower()}
    assert not leaked, f"{style}: unapproved fields on the wire: {sorted(leaked)}"


@pytest.mark.django_db
def test_the_policy_shows_declared_against_approved_and_only_both_are_released():
    lender = LenderFactory(adapter="async_lead", released_fields=["email", "phone", "birth_date"])
    declared = set(lender_declared_fields(lender))
    assert {"birth_date", "email"} <= declared and "phone" not in declared
    assert lender_released_fields(lender) == frozenset({"email", "birth_date"})
    policy = {row.name: row for row in lender_field_policy(lender)}
    assert set(policy) == set(JOURNEY_FIELDS)
    assert policy["phone"].approved and not policy["phone"].declared and not policy["phone"].released
    assert policy["region"].declared and not policy["region"].approved and not policy["region"].released
    assert policy["email"].released
    # The flow does not ask the consumer for a declared field that is not approved.
    assert "region" not in lender_required_fields(lender) and "birth_date" in lender_required_fields(lender)


@pytest.mark.django_db
def test_a_request_carries_identity_and_income_and_only_the_released_fields():
    lender = LenderFactory(adapter="offers_api", released_fields=["email"])
    canary = Canary()
    lead = _canary_journey(lender, canary)
    request = prequalify_request_build(Lead.objects.select_related("product", "listing", "lender").get(pk=lead.pk))
    consumer = request.consumer
    assert (consumer.document_number, consumer.full_name, consumer.monthly_income) == (
        canary.document, canary.full_name, canary.income)
    assert consumer.email == canary.email
    assert (consumer.phone, consumer.birth_date, consumer.region) == ("", "", "")
    assert dict(consumer.extra) == {} and request.requested_amount is None
    assert consumer_release(consumer, set()).email == ""


@pytest.mark.django_db
def test_a_mapped_lender_declares_the_fields_its_templates_name():
    from apps.lenders.models import MappedApi

    lender = LenderFactory(adapter="mapped_json")
    MappedApi.objects.create(
        lender=lender, prequalify_path="/decisions",
        prequalify_template='{"id": "{{tracking_id}}", "dob": "{{consumer.birth_date}}", '
                            '"zip": "{{consumer.postal_code}}"}',
        decision_path="status", approved_values="ok", rejected_values="no",
    )
    assert {"birth_date", "postal_code", "email", "phone"} <= set(lender_declared_fields(lender))
    assert "address_line" not in lender_declared_fields(lender)



@pytest.mark.django_db
def test_a_mapped_lender_s_application_needs_the_fields_its_submission_template_names():
    from apps.lenders.models import MappedApi

    lender = LenderFactory(adapter="mapped_json")
    MappedApi.objects.create(
        lender=lender, prequalify_path="/decisions", prequalify_template='{"id": "{{tracking_id}}"}',
        decision_path="status", approved_values="ok", rejected_values="no", submit_path="/applications",
        submit_template='{"id": "{{tracking_id}}", "address": "{{consumer.address_line}}", '
                        '"city": "{{consumer.city}}"}',
    )
    assert lender_required_fields(lender) == ()  # none to decide
    assert lender_required_fields(lender, capability="submit") == ("email", "phone", "address_line", "city")


@pytest.mark.django_db
def test_admin_shows_the_policy_and_staff_approve_fields_there(admin_client):
    from auditlog.models import LogEntry

    from tests.lenders.test_admin import change_url, form_data

    lender = LenderFactory(adapter="async_lead", released_fields=["email"])
    html = admin_client.get(change_url(lender)).content.decode()
    assert 'class="field-policy"' in html and "Declared by adapter" in html
    assert "document_number" in html  # identity and income: always sent
    assert 'name="released_fields" value="birth_date"' in html
    response = admin_client.post(change_url(lender), form_data(lender, released_fields=["email", "birth_date"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    lender.refresh_from_db()
    assert lender_released_fields(lender) == frozenset({"email", "birth_date"})
    assert LogEntry.objects.get_for_object(lender).filter(changes__has_key="released_fields").exists()
    refused = admin_client.post(change_url(lender), form_data(lender, released_fields=["password"]))
    assert refused.status_code == 200 and Lender.objects.get(pk=lender.pk).released_fields == ["email", "birth_date"]
