from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.campaigns.catalog import catalog_for_origin
from apps.campaigns.models import Campaign, CampaignOrigin, CampaignState
from apps.campaigns.selectors import campaign_state
from apps.lenders.adapters import ADAPTERS
from apps.lenders.models import Lender
from apps.origins.models import Origin
from apps.products.models import Product
from apps.sandbox.styles import sandbox_style, sandbox_styles


@pytest.mark.django_db
def test_demo_data_has_two_origins_a_sandbox_lender_of_each_style_and_live_catalogs(capsys):
    call_command("seed_demo", site_url="http://127.0.0.1:8123", admin_password="demo-pass-123")

    origins = {origin.code: origin for origin in Origin.objects.all()}
    assert origins["movilco"].prefix_tracking_ids and not origins["billeteraya"].prefix_tracking_ids
    lenders = {lender.adapter: lender for lender in Lender.objects.all()}
    assert sorted(lenders) == sorted(ADAPTERS)
    for style, lender in lenders.items():
        assert lender.base_url == f"http://127.0.0.1:8123/sandbox/{sandbox_style(style).path}/{lender.code}"
    for code in ("movilco", "billeteraya"):  # each catalog shows every demo listing published to the origin
        published = [style for style in sandbox_styles().values() if code in style.demo_lender["origins"]]
        assert len(published) >= 3  # three of today's four demo lenders each
        assert len(catalog_for_origin(origin=origins[code])) == len(published)
    assert "demo-pass-123" in capsys.readouterr().out


@pytest.mark.django_db
def test_loading_the_demo_again_changes_nothing_but_keeps_the_lenders_secrets(django_user_model):
    call_command("seed_demo", admin_password="first-pass-123")
    secrets_before = {lender.code: (lender.postback_secret, lender.credentials) for lender in Lender.objects.all()}

    call_command("seed_demo", admin_password="second-pass-456")

    assert {lender.code: (lender.postback_secret, lender.credentials) for lender in Lender.objects.all()} == secrets_before
    assert (Origin.objects.count(), Lender.objects.count(), Campaign.objects.count()) == (2, len(ADAPTERS), len(ADAPTERS))
    assert django_user_model.objects.get(username="admin").check_password("second-pass-456")


@pytest.mark.django_db
def test_demo_campaigns_have_budgets_prices_caps_and_conditions_and_stay_live():
    call_command("seed_demo", admin_password="demo-pass-123")

    for campaign in Campaign.objects.select_related("product"):
        assert campaign_state(campaign) == CampaignState.ACTIVE
        assert campaign.budget and campaign.price_per_lead and campaign.daily_lead_cap
        assert campaign.product.state == Product.State.LIVE and campaign.product.apr
    finanzas = Campaign.objects.get(lender__code="finanzas-ya")
    assert finanzas.min_monthly_income == 1_000_000 and finanzas.total_lead_cap
    assert CampaignOrigin.objects.filter(daily_lead_cap__isnull=False).exists()


@pytest.mark.django_db
def test_loading_the_demo_again_keeps_what_campaigns_have_spent():
    call_command("seed_demo", admin_password="first-pass-123")
    Campaign.objects.update(spent=Decimal("12000.00"), leads_delivered=1)

    call_command("seed_demo", admin_password="second-pass-456")

    assert set(Campaign.objects.values_list("spent", "leads_delivered")) == {(Decimal("12000.00"), 1)}


@pytest.mark.django_db
def test_demo_listings_and_products_read_in_spanish_and_in_english():
    from django.utils import translation

    from apps.legal.models import DataController
    from apps.listings.models import Listing

    with translation.override("en"):  # whatever language the command runs in
        call_command("seed_demo", site_url="http://127.0.0.1:8123", admin_password="demo-pass-123")

    listings = list(Listing.objects.select_related("product"))
    assert len(listings) == len(sandbox_styles())
    for listing in listings:
        for name in ("title", "tagline", "highlights"):
            spanish, english = getattr(listing, f"{name}_es_co"), getattr(listing, f"{name}_en")
            assert spanish and english and spanish != english, (listing.listing_id, name)
        assert listing.product.name_es_co and listing.product.name_en
        assert listing.product.name_en != listing.product.name_es_co
        assert not listing.call_to_action_es_co and not listing.call_to_action_en  # the standard "Solicitar" / "Apply"
    with translation.override("en"):
        assert Listing.objects.get(product__product_id="ln_personal_01").title == "Banco Andino personal loan"
    with translation.override("es-co"):
        assert Listing.objects.get(product__product_id="ln_personal_01").title == "Libre inversión Banco Andino"
    assert DataController.objects.get().email.endswith("@prosperas.co")


@pytest.mark.django_db
def test_the_demo_origins_get_one_staging_client_of_the_origins_api_each_run_after_run(capsys):
    from apps.origin_api.models import OriginApiClient

    call_command("seed_demo", admin_password="demo-pass-123")
    first = capsys.readouterr().out
    call_command("seed_demo", admin_password="demo-pass-123")
    second = capsys.readouterr().out

    clients = OriginApiClient.objects.select_related("origin", "application")
    assert sorted((client.origin.code, client.environment) for client in clients) == [
        ("billeteraya", "staging"), ("movilco", "staging")]
    for client in clients:
        assert client.application.client_id in first and client.application.client_id in second
    assert first.count("client_secret") == 2 and "(shown when it was made" in second
