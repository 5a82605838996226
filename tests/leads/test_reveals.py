"""Seeing a consumer's personal data unmasked: the compliance role's permission, asked with a
reason, for a while, every reveal in the audit log; refused (and nothing shown) without it."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from apps.leads.models import PersonalDataReveal
from apps.leads.reveals import RevealRefused, lead_personal_data_reveal, reveal_active
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
NAME = "Ana María Pérez"


@pytest.fixture
def lead():
    return LeadFactory(full_name=NAME, document_number="1020304050", email="ana.perez@example.com",
                       phone="3001234567", birth_date="1990-05-17", monthly_income=3_200_000)


@pytest.fixture
def staff(django_user_model):
    def make(username: str, role: str):
        user = django_user_model.objects.create_user(username, password="pw-for-tests-only", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def lead_page(client, lead) -> str:
    return client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()


def test_compliance_sees_the_personal_data_after_giving_a_reason_and_the_reveal_is_logged(
        client, lead, staff, settings):
    settings.PERSONAL_DATA_REVEAL_MINUTES = 15
    officer = staff("carla.compliance", "compliance")
    client.force_login(officer)
    before = lead_page(client, lead)
    assert NAME not in before and "1020304050" not in before and 'id="reveal-personal-data"' in before

    answer = client.post(reverse("admin:leads_lead_reveal", args=[lead.pk]), {"reason": "habeas data request 4411"},
                         follow=True)
    page = answer.content.decode()
    assert NAME in page and "1020304050" in page and "ana.perez@example.com" in page and "3,200,000 COP" in page
    assert "this is logged" in page

    reveal = PersonalDataReveal.objects.get()
    assert (reveal.lead, reveal.staff, reveal.reason) == (lead, officer, "habeas data request 4411")
    assert timedelta(minutes=14) < reveal.expires_at - timezone.now() <= timedelta(minutes=15)
    entry = LogEntry.objects.get_for_object(lead).get()
    assert entry.action == LogEntry.Action.ACCESS and entry.actor == officer
    assert entry.additional_data["reason"] == "habeas data request 4411"
    assert entry.additional_data["expires_at"] == reveal.expires_at.isoformat()
    assert NAME not in str(entry.changes) and NAME not in str(entry.additional_data)


def test_a_reveal_shows_the_data_to_its_user_alone(client, lead, staff):
    lead_personal_data_reveal(lead_id=lead.pk, staff=staff("carla.compliance", "compliance"), reason="habeas data")
    client.force_login(staff("otra.compliance", "compliance"))
    assert NAME not in lead_page(client, lead)


def test_without_the_permission_the_reveal_is_refused_and_nothing_is_shown(client, lead, staff):
    support = staff("sofia.support", "support")
    with pytest.raises(RevealRefused, match="may not see"):
        lead_personal_data_reveal(lead_id=lead.pk, staff=support, reason="curious")
    client.force_login(support)
    assert 'id="reveal-personal-data"' not in lead_page(client, lead)
    refused = client.post(reverse("admin:leads_lead_reveal", args=[lead.pk]), {"reason": "curious about it"})
    assert refused.status_code == 403 and NAME not in refused.content.decode()
    assert NAME not in lead_page(client, lead)
    assert not PersonalDataReveal.objects.exists() and not LogEntry.objects.get_for_object(lead).exists()


def test_a_reveal_needs_a_reason(client, lead, staff):
    client.force_login(staff("carla.compliance", "compliance"))
    page = client.post(reverse("admin:leads_lead_reveal", args=[lead.pk]), {"reason": "  "}, follow=True)
    assert "Say why" in page.content.decode() and NAME not in page.content.decode()
    assert not PersonalDataReveal.objects.exists()


def test_after_the_reveal_expires_the_data_is_masked_again(client, lead, staff):
    officer = staff("carla.compliance", "compliance")
    reveal = lead_personal_data_reveal(lead_id=lead.pk, staff=officer, reason="habeas data request")
    client.force_login(officer)
    assert NAME in lead_page(client, lead)

    PersonalDataReveal.objects.filter(pk=reveal.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reveal_active(lead_id=lead.pk, staff=officer) is None
    assert NAME not in lead_page(client, lead)


def test_withdrawing_the_permission_ends_a_running_reveal(client, lead, staff):
    officer = staff("carla.compliance", "compliance")
    lead_personal_data_reveal(lead_id=lead.pk, staff=officer, reason="habeas data request")
    officer.groups.set([Group.objects.get(name="support")])
    client.force_login(officer)
    assert NAME not in lead_page(client, lead)
