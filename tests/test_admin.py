"""Every admin page staff use renders, and personal data appears only masked."""

import pytest
from django.urls import reverse

from apps.leads.models import LeadStatus
from tests.factories import CampaignFactory, LeadFactory, LenderFactory, ListingFactory, OriginFactory, ProductFactory

MODELS = ["origins.origin", "lenders.lender", "lenders.lendercall", "products.product", "listings.listing",
          "campaigns.campaign", "leads.lead", "postbacks.postbackevent"]


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_admin_changelist_and_add_pages_render(staff_client, model):
    OriginFactory(); LenderFactory(); ProductFactory(); ListingFactory(); CampaignFactory(); LeadFactory()  # noqa: E702
    app_label, model_name = model.split(".")

    response = staff_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_admin_pages_colour_by_class_from_the_admin_stylesheet_never_by_style_attribute(staff_client, model):
    """The content security policy (style-src 'self') ignores style="" attributes."""
    OriginFactory(); LenderFactory(); CampaignFactory(); LeadFactory()  # noqa: E702
    app_label, model_name = model.split(".")

    page = staff_client.get(reverse(f"admin:{app_label}_{model_name}_changelist")).content.decode()

    assert "/static/css/admin.css" in page
    assert 'style="color' not in page and "style='" not in page


@pytest.mark.django_db
def test_the_campaign_and_lender_lists_colour_states_by_class(staff_client):
    CampaignFactory()

    campaigns = staff_client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    lenders = staff_client.get(reverse("admin:lenders_lender_changelist")).content.decode()

    assert 'class="campaign-state--' in campaigns
    assert 'class="circuit--closed"' in lenders


@pytest.mark.django_db
def test_lead_admin_shows_the_timeline_and_masks_personal_data(staff_client):
    lead = LeadFactory(status=LeadStatus.HANDED_OFF, document_number="1020304050", full_name="Ana Pérez",
                       email="ana.perez@example.com", phone="3001234567", monthly_income=3_456_789,
                       monthly_income_band=2_000_000)

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert lead.tracking_id in body
    for secret in ["1020304050", "Ana Pérez", "ana.perez@example.com", "3001234567", "3456789", "3,456,789",
                   "3.456.789"]:
        assert secret not in body
    assert "••••••4050" in body and "2,000,000 to 3,999,999" in body


@pytest.mark.django_db
def test_the_lead_list_filters_by_income_band(staff_client):
    low, high = LeadFactory(monthly_income_band=0), LeadFactory(monthly_income_band=4_000_000)

    body = staff_client.get(reverse("admin:leads_lead_changelist"), {"monthly_income_band": 4_000_000}).content.decode()

    assert high.tracking_id in body and low.tracking_id not in body


@pytest.mark.django_db
def test_the_origin_list_shows_and_filters_the_legacy_deep_link_switch(staff_client):
    legacy, current = OriginFactory(deep_link_legacy_plain=True), OriginFactory()

    listing = staff_client.get(reverse("admin:origins_origin_changelist")).content.decode()
    filtered = staff_client.get(reverse("admin:origins_origin_changelist"), {"deep_link_legacy_plain__exact": "1"})

    assert "Legacy plain deep links" in listing
    body = filtered.content.decode()
    assert legacy.code in body and f">{current.code}<" not in body


@pytest.mark.django_db
def test_lender_admin_never_shows_its_secrets(staff_client):
    lender = LenderFactory(credentials={"api_key": "sandbox-abcdef123456"}, postback_secret="postback-secret-xyz")

    body = staff_client.get(reverse("admin:lenders_lender_change", args=[lender.pk])).content.decode()

    assert "sandbox-abcdef123456" not in body
    assert "postback-secret-xyz" not in body


@pytest.mark.django_db
def test_origin_admin_saves_without_overwriting_a_write_only_secret_left_blank(staff_client):
    origin = OriginFactory(deep_link_secret="keep-me")
    data = {"code": origin.code, "name": "Renamed", "kind": origin.kind, "is_active": "on", "deep_link_secret": ""}

    response = staff_client.post(reverse("admin:origins_origin_change", args=[origin.pk]), data)

    origin.refresh_from_db()
    assert response.status_code == 302
    assert (origin.name, origin.deep_link_secret) == ("Renamed", "keep-me")
