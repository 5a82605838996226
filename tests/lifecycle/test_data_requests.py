"""A consumer's data request (apps/lifecycle/data_requests.py): export everything held about a
person, decrypted; erase their personal data while the ledger, aggregates and billing stay;
both recorded in the audit log. Through the service, the command and the admin page."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.campaigns.models import LedgerEntry
from apps.campaigns.services import lead_delivery_record
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.models import Consent, Decision, Lead, LeadEvent, LeadExtraData, OutboxMessage
from apps.leads.reports import funnel_report
from apps.lenders.models import LenderCall
from apps.lifecycle.data_requests import consumer_data_erase, consumer_data_export, document_digest
from apps.lifecycle.models import DataRequest
from apps.postbacks.models import PostbackEvent
from tests.factories import LeadFactory, shelf_with
from tests.test_pii_canaries import Canary, Findings, scan_database

pytestmark = pytest.mark.django_db


def _person(canary: Canary):
    """Two journeys of one person (the document typed differently), one of someone else; a
    ledger charge, a decision, consents, a lender call whose stored answer echoes the name, a
    postback event and an email in the outbox."""
    now = timezone.now()
    shelf = shelf_with(price_per_lead=Decimal("1000"), budget=Decimal("100000"),
                       starts_at=now - timezone.timedelta(days=30))
    personal = {"document_type": "CC", "full_name": canary.full_name, "email": canary.email,
                "phone": f"+57{canary.mobile}", "birth_date": canary.birth_date, "monthly_income": canary.income}
    first = LeadFactory(origin=shelf.origin, listing=shelf.listing, campaign=shelf.campaign, status="handed_off",
                        document_number=canary.document, handed_off_at=now, **personal)
    spaced = f"{canary.document[:3]}.{canary.document[3:6]} {canary.document[6:]}"
    second = LeadFactory(origin=shelf.origin, listing=shelf.listing, status="not_eligible", document_number=spaced,
                         **personal)
    other = LeadFactory(origin=shelf.origin, listing=shelf.listing, status="offered", document_number="9999999999",
                        full_name="Otra Persona", email="otra@example.com")
    lead_extra_data_set(lead=first, values={"address_line": canary.address})
    lead_delivery_record(lead=first, campaign=shelf.campaign, now=now)
    Decision.objects.create(lead=second, lender=second.lender, outcome="rejected")
    Consent.objects.create(lead=first, kind="terms", text_version="1", accepted_at=now, ip_address="203.0.113.7")
    echo = json.dumps({"error": f"{canary.full_name} already a customer"})
    LenderCall.objects.create(lender=first.lender, lead=first, capability="prequalify", attempt=1, idempotency_key="k1",
                              outcome="rejected", http_status=200, request_method="POST",
                              request_url="http://127.0.0.1:9/x",
                              request_body="{}", response_body=echo, started_at=now, finished_at=now, duration_ms=80)
    PostbackEvent.objects.create(lender=first.lender, lead=first, click_id=first.tracking_id, status="disbursed",
                                 occurred_at=now, effect="applied", raw_body=echo.encode(), headers={"X": "y"},
                                 nonce="nonce-abcdefgh", metadata={"holder": canary.full_name},
                                 amount=Decimal("1000000"),
                                 currency="COP")
    OutboxMessage.objects.create(sender="no-reply@prosperas.example", recipients=canary.email,
                                 subject=f"Hola {canary.first_name}", text_body="Tu solicitud avanza.")
    return first, second, other


def test_the_export_holds_everything_about_the_person_decrypted_and_nothing_of_others():
    canary = Canary()
    first, second, other = _person(canary)
    exported = consumer_data_export(document_number=f" {canary.document} ")
    journeys = {journey["tracking_id"]: journey for journey in exported["journeys"]}
    assert set(journeys) == {first.tracking_id, second.tracking_id}
    mine = journeys[first.tracking_id]
    assert (mine["full_name"], mine["email"], mine["monthly_income"]) == (canary.full_name, canary.email, canary.income)
    assert mine["leads.LeadExtraData"][0]["values"] == {"address_line": canary.address}
    assert mine["leads.Consent"][0]["ip_address"] == "203.0.113.7"
    assert canary.full_name in mine["lenders.LenderCall"][0]["response_body"]
    assert mine["postbacks.PostbackEvent"][0]["status"] == "disbursed"
    assert mine["campaigns.LedgerEntry"], "the charge of the delivery is part of what we hold"
    assert journeys[second.tracking_id]["leads.Decision"][0]["outcome"] == "rejected"
    assert exported["emails_sent"][0]["subject"] == f"Hola {canary.first_name}"
    assert "otra@example.com" not in json.dumps(exported) and other.tracking_id not in json.dumps(exported)
    # Recorded: the audit log on each journey, and the request, without the document number.
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_pk__in=[str(first.pk), str(second.pk)])
    assert entries.count() == 2
    request = DataRequest.objects.get()
    assert (request.kind, request.leads_found) == ("export", 2)
    assert request.document_digest == document_digest(canary.document)
    assert canary.document not in json.dumps(list(LogEntry.objects.values("changes", "additional_data")), default=str)


def test_erasure_removes_the_personal_data_and_keeps_the_ledger_the_funnel_and_billing():
    canary = Canary()
    first, second, other = _person(canary)
    ledger_before = list(LedgerEntry.objects.order_by("pk").values("pk", "lead_id", "amount", "kind"))
    today = timezone.localdate()
    funnel_before = funnel_report(date_from=today - timezone.timedelta(days=1), date_to=today)
    events_before = list(PostbackEvent.objects.values_list("pk", "status", "amount", "lead_id"))

    result = consumer_data_erase(document_number=canary.document)

    assert sorted(result.lead_ids) == sorted([first.pk, second.pk])
    for lead in Lead.objects.filter(pk__in=result.lead_ids):
        assert (lead.document_number, lead.full_name, lead.email, lead.phone, lead.birth_date) == ("",) * 5
        assert lead.monthly_income is None and lead.status in ("handed_off", "not_eligible")
        assert LeadEvent.objects.filter(lead=lead, message__contains="erased").exists()
    assert not LeadExtraData.objects.filter(lead=first).exists()
    assert Consent.objects.get(lead=first).ip_address is None
    assert LenderCall.objects.get(lead=first).response_body == ""
    assert not OutboxMessage.objects.exists()
    # What the platform must keep is kept, row for row.
    assert list(LedgerEntry.objects.order_by("pk").values("pk", "lead_id", "amount", "kind")) == ledger_before
    assert list(PostbackEvent.objects.values_list("pk", "status", "amount", "lead_id")) == events_before
    assert funnel_report(date_from=today - timezone.timedelta(days=1), date_to=today) == funnel_before
    # Someone else's journey is untouched.
    assert Lead.objects.get(pk=other.pk).full_name == "Otra Persona"
    # Nothing of the person is left in clear anywhere in the database.
    findings = Findings([canary])
    scan_database(findings)
    assert not findings.found, findings.report()
    assert consumer_data_export(document_number=canary.document)["journeys"] == []
    assert LogEntry.objects.filter(action=LogEntry.Action.UPDATE, object_pk=str(first.pk),
                                   additional_data__data_request="erasure").exists()


def test_the_command_exports_to_a_file_and_erases_only_when_confirmed(tmp_path):
    canary = Canary()
    first, _, _ = _person(canary)
    target = tmp_path / "export.json"
    call_command("consumer_data", "export", canary.document, "--output", str(target), stderr=io.StringIO())
    assert json.loads(target.read_text())["journeys"][0]["full_name"] == canary.full_name
    with pytest.raises(CommandError, match="--yes"):
        call_command("consumer_data", "erase", canary.document)
    assert Lead.objects.get(pk=first.pk).full_name == canary.full_name
    out = io.StringIO()
    call_command("consumer_data", "erase", canary.document, "--yes", stdout=out)
    assert "Erased the personal data of 2 journey(s)" in out.getvalue()
    assert Lead.objects.get(pk=first.pk).full_name == ""


def _staff(role: str) -> Client:
    user = User.objects.create_user(f"{role}-user", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_the_compliance_role_serves_requests_in_admin_and_support_cannot():
    canary = Canary()
    first, _, _ = _person(canary)
    url = reverse("admin:lifecycle_datarequest_serve")
    assert _staff("support").get(url).status_code == 403
    compliance = _staff("compliance")
    assert compliance.get(reverse("admin:lifecycle_datarequest_add")).url == url
    download = compliance.post(url, {"kind": "export", "document_number": canary.document})
    assert download["Content-Type"] == "application/json" and "attachment" in download["Content-Disposition"]
    assert json.loads(download.content)["journeys"][0]["email"] == canary.email
    unconfirmed = compliance.post(url, {"kind": "erasure", "document_number": canary.document})
    assert unconfirmed.status_code == 200 and Lead.objects.get(pk=first.pk).email == canary.email
    done = compliance.post(url, {"kind": "erasure", "document_number": canary.document, "confirm_erasure": "on"})
    assert b"Erased the personal data of 2 journey(s)" in done.content
    assert Lead.objects.get(pk=first.pk).email == ""
    assert list(DataRequest.objects.order_by("pk").values_list("kind", "requested_by__username")) == [
        ("export", "compliance-user"), ("erasure", "compliance-user")]
    assert compliance.get(reverse("admin:lifecycle_datarequest_changelist")).status_code == 200
