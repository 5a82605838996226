"""Staff actions on a lead: each checks the lead's state, refuses in plain words, and is recorded
on the timeline and in the audit log; the admin offers only what the user may do."""

import base64
import json

import pytest
import redis
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.leads.models import Decision, Lead, LeadEvent, LeadNotification, LeadStatus
from apps.leads.staff_actions import LeadActionRefused, lead_staff_act
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("sofia.support", password="pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name="support"))
    return user


@pytest.fixture
def queued(broker_isolation):
    """The tasks this test enqueues, read back from the broker (this run's own keys)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = broker_isolation["CELERY_BROKER_KEYPREFIX"]

    def lists():
        return [key for key in client.scan_iter(match=prefix + "*") if client.type(key) == b"list"]

    for key in lists():
        client.delete(key)

    def read() -> list[tuple[str, dict]]:
        found = []
        for key in lists():
            for raw in client.lrange(key, 0, -1):
                message = json.loads(raw)
                _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
                found.append((message["headers"]["task"], kwargs))
        return found

    return read


def staff_events(lead):
    return list(LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.STAFF).values_list("message", flat=True))


def test_retrying_a_failed_decision_asks_the_lender_again_with_the_same_tracking_id(
        staff, django_capture_on_commit_callbacks, queued):
    lead = LeadFactory(status=LeadStatus.DECISION_FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        done = lead_staff_act(lead_id=lead.pk, action="retry", staff=staff, text="lender back up")

    lead.refresh_from_db()
    assert lead.status == LeadStatus.AWAITING_DECISION
    assert queued() == [("apps.lenders.tasks.lender_prequalify", {"lead_id": lead.pk, "lender_id": lead.lender_id})]
    assert staff_events(lead) == [f"sofia.support: {done} — lender back up"]
    entry = LogEntry.objects.get_for_object(lead).get()
    assert entry.actor == staff and entry.additional_data == {"action": "retry", "text": "lender back up"}


def test_a_retry_the_state_does_not_allow_is_refused_and_writes_nothing(staff):
    lead = LeadFactory(status=LeadStatus.OFFERED)
    with pytest.raises(LeadActionRefused, match="Only a failed decision or submission can be retried"):
        lead_staff_act(lead_id=lead.pk, action="retry", staff=staff)
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.OFFERED
    assert staff_events(lead) == [] and not LogEntry.objects.get_for_object(lead).exists()


def test_cancelling_needs_a_reason_and_never_undoes_a_disbursement(staff):
    open_lead, disbursed = LeadFactory(status=LeadStatus.HANDED_OFF), LeadFactory(status=LeadStatus.DISBURSED)
    with pytest.raises(LeadActionRefused, match="say why"):
        lead_staff_act(lead_id=open_lead.pk, action="cancel", staff=staff, text="   ")
    with pytest.raises(LeadActionRefused, match="cannot be cancelled"):
        lead_staff_act(lead_id=disbursed.pk, action="cancel", staff=staff, text="consumer asked")

    lead_staff_act(lead_id=open_lead.pk, action="cancel", staff=staff, text="consumer asked by phone")

    assert Lead.objects.get(pk=open_lead.pk).status == LeadStatus.CANCELLED
    assert staff_events(open_lead) == ["sofia.support: cancelled the lead — consumer asked by phone"]


def test_polling_now_asks_each_lender_whose_decision_is_pending(staff, django_capture_on_commit_callbacks,
                                                                queued):
    lead = LeadFactory(status=LeadStatus.DECISION_PENDING)
    with pytest.raises(LeadActionRefused, match="No lender's decision is pending"):
        lead_staff_act(lead_id=lead.pk, action="poll", staff=staff)
    Decision.objects.create(lead=lead, lender=lead.lender, outcome=Decision.Outcome.PENDING)

    with django_capture_on_commit_callbacks(execute=True):
        lead_staff_act(lead_id=lead.pk, action="poll", staff=staff)

    assert queued() == [("apps.lenders.tasks.lender_poll", {"lead_id": lead.pk, "lender_id": lead.lender_id})]


def test_resending_the_last_email_sends_it_again(staff, django_capture_on_commit_callbacks, queued):
    lead = LeadFactory(status=LeadStatus.APPROVED, email="ana@example.com")
    with pytest.raises(LeadActionRefused, match="never emailed"):
        lead_staff_act(lead_id=lead.pk, action="notify", staff=staff)
    LeadNotification.objects.create(lead=lead, lead_status="approved", state=LeadNotification.State.SENT, language="es")

    with django_capture_on_commit_callbacks(execute=True):
        lead_staff_act(lead_id=lead.pk, action="notify", staff=staff)

    assert LeadNotification.objects.get(lead=lead).state == LeadNotification.State.PENDING
    assert [name for name, _ in queued()] == ["apps.leads.tasks.lead_status_notify_task"]


def test_the_lead_page_offers_support_its_actions_and_an_analyst_none(client, staff, django_user_model):
    lead = LeadFactory(status=LeadStatus.SUBMISSION_FAILED, needs_review=True)
    client.force_login(staff)
    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert b'id="staff-actions"' in page.content and b'value="retry"' in page.content

    marked = client.post(reverse("admin:leads_lead_act", args=[lead.pk]), {"action": "review", "text": "checked with lender"},
                         follow=True)
    assert b"Done: marked reviewed." in marked.content
    assert Lead.objects.get(pk=lead.pk).needs_review is False

    analyst = django_user_model.objects.create_user("ana.lyst", password="pw", is_staff=True)
    analyst.groups.add(Group.objects.get(name="analyst"))
    client.force_login(analyst)
    assert b'id="staff-actions"' not in client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content
    assert client.post(reverse("admin:leads_lead_act", args=[lead.pk]), {"action": "cancel", "text": "x"}).status_code == 403
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.SUBMISSION_FAILED


def test_a_refused_action_is_shown_to_staff_as_an_error(client, staff):
    lead = LeadFactory(status=LeadStatus.OFFERED)
    client.force_login(staff)
    page = client.post(reverse("admin:leads_lead_act", args=[lead.pk]), {"action": "retry"}, follow=True)
    assert b"Only a failed decision or submission can be retried" in page.content
