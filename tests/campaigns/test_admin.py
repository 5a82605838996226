"""Staff run campaigns from admin: state and spend from the ledger, pause / resume, the budget
alert, and the ledger itself, read only."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.campaigns.models import Campaign
from apps.leads import services as lead_services
from tests.campaigns.conftest import IDENTITY, started
from tests.factories import shelf_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-for-tests-only"))
    return client


def test_the_campaign_list_shows_state_spend_budget_left_leads_today_and_the_alert(staff_client):
    shelf = shelf_with(price_per_lead=Decimal("900"), budget=Decimal("1000"), daily_lead_cap=5)
    lead_services.journey_identity_submit(lead=started(shelf), identity=IDENTITY)

    page = staff_client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()

    assert "Exhausted" in page  # 100 left, a lead costs 900
    assert "900.00 COP" in page and "100.00 COP" in page
    assert "1 / 5" in page
    assert "90% spent" in page


def test_staff_pause_and_resume_campaigns_with_list_actions(staff_client):
    shelf = shelf_with()
    url = reverse("admin:campaigns_campaign_changelist")

    staff_client.post(url, {"action": "pause_selected", "_selected_action": [shelf.campaign.pk]})
    assert Campaign.objects.get(pk=shelf.campaign.pk).is_active is False
    staff_client.post(url, {"action": "resume_selected", "_selected_action": [shelf.campaign.pk]})
    assert Campaign.objects.get(pk=shelf.campaign.pk).is_active is True


def test_the_state_filter_lists_paused_campaigns(staff_client):
    shelf = shelf_with(is_active=False)

    page = staff_client.get(reverse("admin:campaigns_campaign_changelist"), {"state": "paused"}).content.decode()

    assert shelf.campaign.name in page and shelf.fallback.name not in page


def test_the_campaign_page_shows_totals_from_the_ledger_and_a_new_campaign_starts_as_a_draft(staff_client):
    shelf = shelf_with(price_per_lead=Decimal("250"))
    lead_services.journey_identity_submit(lead=started(shelf), identity=IDENTITY)

    change = staff_client.get(reverse("admin:campaigns_campaign_change", args=[shelf.campaign.pk])).content.decode()
    add = staff_client.get(reverse("admin:campaigns_campaign_add")).content.decode()

    assert "Spent 250.00 COP" in change and "1 leads, 1 today" in change
    assert 'name="is_draft" checked' in add or 'checked id="id_is_draft"' in add or 'id="id_is_draft" checked' in add


def test_the_ledger_can_be_read_but_never_changed_in_admin(staff_client):
    shelf = shelf_with(price_per_lead=Decimal("250"))
    lead_services.journey_identity_submit(lead=started(shelf), identity=IDENTITY)
    entry = shelf.campaign.ledger.get()

    assert staff_client.get(reverse("admin:campaigns_ledgerentry_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:campaigns_ledgerentry_add")).status_code == 403
    delete = reverse("admin:campaigns_ledgerentry_delete", args=[entry.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert shelf.campaign.ledger.count() == 1
