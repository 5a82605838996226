"""Alerts: each rule opens an alert for its subject, owned by its role and emailed to it; no
duplicate while it is unresolved; it resolves when its condition clears; staff acknowledge and
resolve it in admin."""

from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.alerts import CLEARED, alert_resolve, alerts_evaluate
from apps.backoffice.models import Alert
from apps.backoffice.tasks import evaluate_alerts
from apps.leads.models import Decision, Lead, LeadStatus
from apps.lenders.models import CircuitState, Lender, LenderCall
from apps.postbacks.models import PostbackEvent
from tests.factories import CampaignFactory, LeadFactory, LenderFactory

pytestmark = pytest.mark.django_db


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def unresolved(rule: str):
    return list(Alert.objects.filter(rule=rule).exclude(state=Alert.State.RESOLVED))


def only_alert(rule: str) -> Alert:
    [alert] = unresolved(rule)
    return alert


def test_approved_and_never_disbursed_after_the_lenders_days(settings):
    settings.ALERT_APPROVED_NOT_DISBURSED_DAYS = 7
    late = LeadFactory(status=LeadStatus.APPROVED, lender_status_at=days_ago(8))
    LeadFactory(status=LeadStatus.APPROVED, lender_status_at=days_ago(8), lender=late.lender)
    LeadFactory(status=LeadStatus.APPROVED, lender_status_at=days_ago(2), lender=late.lender)  # not yet
    patient = LeadFactory(status=LeadStatus.APPROVED, lender_status_at=days_ago(8))
    settings.ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER = {patient.lender.code: 10}

    alerts_evaluate()

    alert = only_alert("approved_not_disbursed")
    assert (alert.lender, alert.count, alert.group.name) == (late.lender, 2, "support")
    assert "2 lead(s) approved by" in alert.message


def test_pending_decisions_never_resolved(settings):
    settings.ALERT_PENDING_DECISION_HOURS = 24
    lead = LeadFactory(status=LeadStatus.DECISION_PENDING)
    decision = Decision.objects.create(lead=lead, lender=lead.lender, outcome=Decision.Outcome.PENDING)
    alerts_evaluate()
    assert unresolved("pending_decisions") == []

    Decision.objects.filter(pk=decision.pk).update(created_at=days_ago(2))
    alerts_evaluate()
    assert only_alert("pending_decisions").lender == lead.lender

    Decision.objects.filter(pk=decision.pk).update(outcome=Decision.Outcome.APPROVED)
    alerts_evaluate()
    assert unresolved("pending_decisions") == []
    assert Alert.objects.get(rule="pending_decisions").resolution == CLEARED


def test_handed_off_with_no_postback_after_the_days(settings):
    settings.ALERT_HANDOFF_NO_POSTBACK_DAYS = 3
    waiting = LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=days_ago(4))
    LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=days_ago(1))
    alerts_evaluate()
    alert = only_alert("handed_off_without_postback")
    assert (alert.lender, alert.count, alert.group.name) == (waiting.lender, 1, "integrations")


def calls(lender: Lender, lead: Lead, outcomes: dict[str, int]) -> None:
    LenderCall.objects.bulk_create([
        LenderCall(lender=lender, lead=lead, capability=LenderCall.Capability.PREQUALIFY, attempt=1,
                   idempotency_key=f"k{n}-{outcome}", outcome=outcome, started_at=timezone.now() - timedelta(minutes=5))
        for outcome, count in outcomes.items() for n in range(count)
    ])


def test_a_lender_failing_most_of_its_calls(settings):
    settings.ALERT_LENDER_MIN_CALLS, settings.ALERT_LENDER_FAILURE_PERCENT = 10, 50
    failing, healthy = LeadFactory(), LeadFactory()
    calls(failing.lender, failing, {"technical_failure": 6, "approved": 4})
    calls(healthy.lender, healthy, {"technical_failure": 2, "approved": 10})
    alerts_evaluate()
    alert = only_alert("lender_failing")
    assert (alert.lender, alert.count) == (failing.lender, 6) and "failed 6 of 10 calls" in alert.message


def test_a_lender_silent_after_handoffs_until_a_postback_arrives(settings):
    settings.ALERT_LENDER_SILENT_HOURS, settings.ALERT_LENDER_SILENT_MIN_HANDOFFS = 24, 3
    first = LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=timezone.now() - timedelta(hours=2))
    for _ in range(2):
        LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=first.handed_off_at, lender=first.lender)
    alerts_evaluate()
    assert only_alert("lender_silent").lender == first.lender

    PostbackEvent.objects.create(lender=first.lender, lead=first, click_id=first.tracking_id, status="approved",
                                 occurred_at=timezone.now(), effect="applied", raw_body=b"{}", headers={})
    alerts_evaluate()
    assert unresolved("lender_silent") == []


def test_a_circuit_open():
    lender = LenderFactory(circuit_state=CircuitState.OPEN, circuit_note="5 failures in a row")
    LenderFactory()
    alerts_evaluate()
    alert = only_alert("circuit_open")
    assert alert.lender == lender and "5 failures in a row" in alert.message


def test_a_campaign_near_its_budget():
    near = CampaignFactory(budget=Decimal("1000"), spent=Decimal("850"), budget_alert_percent=80)
    CampaignFactory(budget=Decimal("1000"), spent=Decimal("500"), budget_alert_percent=80)
    CampaignFactory(budget=None, spent=Decimal("5000"))
    alerts_evaluate()
    alert = only_alert("campaign_near_budget")
    assert (alert.campaign, alert.count, alert.group.name) == (near, 85, "marketplace")


def test_an_open_condition_gives_one_alert_emailed_once_to_its_role_then_clears(mailoutbox, with_role):
    member = with_role("ivan.integrations", "integrations")
    with_role("sofia.support", "support")
    lender = LenderFactory(circuit_state=CircuitState.OPEN)

    alerts_evaluate()
    alerts_evaluate()  # still open: the same alert, no second email

    alert = only_alert("circuit_open")
    assert Alert.objects.count() == 1 and alert.notified_at is not None
    assert [message.to for message in mailoutbox] == [[member.email]]
    assert lender.name in mailoutbox[0].subject
    assert reverse("admin:backoffice_alert_change", args=[alert.pk]) in mailoutbox[0].body

    Lender.objects.filter(pk=lender.pk).update(circuit_state=CircuitState.CLOSED)
    evaluate_alerts()
    alert.refresh_from_db()
    assert (alert.state, alert.resolution, alert.resolved_by) == (Alert.State.RESOLVED, CLEARED, None)

    Lender.objects.filter(pk=lender.pk).update(circuit_state=CircuitState.OPEN)
    alerts_evaluate()
    assert Alert.objects.count() == 2 and len(mailoutbox) == 2  # it happened again: a new alert


def test_the_evaluation_runs_the_same_queries_for_one_lead_or_many():
    lead = LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=days_ago(5))
    alerts_evaluate()

    with CaptureQueriesContext(connection) as few:
        alerts_evaluate()
    for _ in range(30):
        LeadFactory(status=LeadStatus.HANDED_OFF, handed_off_at=days_ago(5), lender=lead.lender)
    with CaptureQueriesContext(connection) as many:
        alerts_evaluate()
    assert len(many) == len(few)
    assert only_alert("handed_off_without_postback").count == 31


def test_staff_acknowledge_own_and_resolve_an_alert(client, with_role):
    LenderFactory(circuit_state=CircuitState.OPEN)
    alerts_evaluate()
    alert = only_alert("circuit_open")
    member = with_role("ivan.integrations", "integrations")
    client.force_login(member)

    listing = client.get(reverse("admin:backoffice_alert_changelist"))
    assert listing.status_code == 200 and b"Circuit open" in listing.content
    page = reverse("admin:backoffice_alert_change", args=[alert.pk])
    client.post(page, {"owner": "", "resolution": "", "_acknowledge": "1"})
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by, alert.owner) == (Alert.State.ACKNOWLEDGED, member, member)

    refused = client.post(page, {"owner": member.pk, "resolution": "", "_resolve": "1"})
    assert b"Say how it was resolved" in refused.content
    client.post(page, {"owner": member.pk, "resolution": "lender restarted its gateway", "_resolve": "1"})
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by, alert.resolution) == (Alert.State.RESOLVED, member,
                                                                   "lender restarted its gateway")
    logged = LogEntry.objects.get_for_object(alert).filter(actor=member)
    assert sorted(entry.changes_dict["state"][1] for entry in logged) == ["acknowledged", "resolved"]
    assert alert_resolve(alert_id=alert.pk, staff=member, resolution="again") is False  # resolved once
    with pytest.raises(ValueError):
        alert_resolve(alert_id=alert.pk, staff=member, resolution=" ")


def test_an_analyst_reads_alerts_and_changes_none(client, with_role):
    LenderFactory(circuit_state=CircuitState.OPEN)
    alerts_evaluate()
    alert = only_alert("circuit_open")
    client.force_login(with_role("ana.lyst", "analyst"))
    assert client.get(reverse("admin:backoffice_alert_changelist")).status_code == 200
    client.post(reverse("admin:backoffice_alert_change", args=[alert.pk]), {"resolution": "x", "_resolve": "1"})
    client.post(reverse("admin:backoffice_alert_changelist"), {"action": "acknowledge", "_selected_action": [alert.pk]})
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.OPEN
    assert not LogEntry.objects.get_for_object(alert).filter(actor__isnull=False).exists()
