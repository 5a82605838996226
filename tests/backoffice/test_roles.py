"""Staff roles: groups a migration makes, each with exactly its permissions, and what a user of
each role can and cannot do in admin."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from prosperas.roles import ROLES, roles_sync
from tests.factories import LeadFactory, ListingFactory, OriginFactory, publish

pytestmark = pytest.mark.django_db


def staff_with(django_user_model, client, role: str):
    user = django_user_model.objects.create_user(f"{role}-user", password="pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def test_the_migration_made_every_role_with_exactly_its_permissions():
    for name, wanted in ROLES.items():
        group = Group.objects.get(name=name)
        held = {f"{perm.content_type.app_label}.{perm.codename}" for perm in group.permissions.all()}
        assert held == set(wanted), name


def test_syncing_again_restores_a_role_staff_widened_by_hand():
    from django.apps import apps
    from django.contrib.auth.models import Permission

    support = Group.objects.get(name="support")
    support.permissions.add(Permission.objects.get(codename="change_campaign"))
    roles_sync(apps)
    assert not support.permissions.filter(codename="change_campaign").exists()


def test_support_reads_journeys_but_cannot_change_a_campaign(client, django_user_model):
    origin = OriginFactory()
    campaign = publish(listing=ListingFactory(), origin=origin)
    lead = LeadFactory(origin=origin)
    support = staff_with(django_user_model, client, "support")

    assert support.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200
    assert support.get(reverse("admin:campaigns_campaign_changelist")).status_code == 403
    page = support.post(reverse("admin:campaigns_campaign_change", args=[campaign.pk]), {"name": "Hijacked"})
    assert page.status_code == 403
    campaign.refresh_from_db()
    assert campaign.name != "Hijacked"


def test_marketplace_changes_campaigns_but_not_lender_credentials(client, django_user_model):
    campaign = publish(listing=ListingFactory(), origin=OriginFactory())
    marketplace = staff_with(django_user_model, client, "marketplace")

    assert marketplace.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).status_code == 200
    lender = campaign.lender
    page = marketplace.get(reverse("admin:lenders_lender_change", args=[lender.pk]))
    assert page.status_code == 200 and b'name="credentials"' not in page.content  # view only
    assert marketplace.get(reverse("admin:lenders_lender_add")).status_code == 403


def test_an_analyst_reads_the_funnel_report_and_changes_nothing(client, django_user_model):
    analyst = staff_with(django_user_model, client, "analyst")
    assert analyst.get(reverse("admin:leads_lead_funnel_report")).status_code == 200
    assert analyst.get(reverse("admin:products_product_add")).status_code == 403


def test_compliance_reads_the_audit_log(client, django_user_model):
    compliance = staff_with(django_user_model, client, "compliance")
    assert compliance.get(reverse("admin:auditlog_logentry_changelist")).status_code == 200
    assert compliance.get(reverse("admin:campaigns_campaign_changelist")).status_code == 403
