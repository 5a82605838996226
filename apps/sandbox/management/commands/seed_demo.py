"""Demo data for `make run`: origins, sandbox lenders, products, listings, campaigns, a staff user.

Safe to run again: rows are found by their codes and brought back to the demo's values; secrets
already generated are kept, so postbacks signed earlier still verify, and the ledger and the
campaigns' spend are left as they are.

The campaigns have budgets, prices, caps and delivery conditions that a demo never runs out of.
Their conditions only use what the flow asks (document type, income): a condition on data the
flow does not collect (age, region) would refuse every lead. Finanzas Ya takes incomes from
COP 1,000,000, so a lower one is offered another listing; from 1,000,000 to 1,200,000 the
sandbox lender itself says no.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignOrigin
from apps.lenders.models import Lender
from apps.listings.models import Listing
from apps.listings.services import listing_id_mint
from apps.origins.models import Origin
from apps.products.models import Product
from apps.sandbox.services import sandbox_lender_prepare

ORIGINS = [
    {"code": "movilco", "name": "MovilCo", "kind": Origin.Kind.CARRIER, "prefix_tracking_ids": True},
    {"code": "billeteraya", "name": "Billetera Ya", "kind": Origin.Kind.WALLET, "prefix_tracking_ids": False},
]

LENDERS = [
    {
        "code": "banco-andino", "name": "Banco Andino", "adapter": "embedded",
        "product": {"product_id": "ln_personal_01", "name": "Crédito de libre inversión", "kind": "personal",
                    "min_amount": 1_000_000, "max_amount": 30_000_000, "min_term_months": 12, "max_term_months": 60,
                    "min_annual_rate": "0.1990", "max_annual_rate": "0.2890"},
        "listing": {"title": "Libre inversión Banco Andino", "tagline": "Hasta $30 millones, respuesta en segundos",
                    "highlights": "Sin codeudor\nPlazos de 12 a 60 meses\nDesembolso en 24 horas",
                    "example_amount": 10_000_000, "example_term_months": 36},
        "origins": ["movilco", "billeteraya"], "priority": 10,
        "terms": {"apr": "0.3050", "monthly_fee": 4_500, "document_types": ["CC", "CE"]},
        "campaign": {"price_per_lead": 12_000, "price_per_approved": 45_000, "price_per_disbursed": 150_000,
                     "budget": 60_000_000, "daily_lead_cap": 400, "document_types": ["CC", "CE"]},
        "origin_caps": {"billeteraya": {"daily_lead_cap": 150}},
    },
    {
        "code": "finanzas-ya", "name": "Finanzas Ya", "adapter": "async_lead",
        "product": {"product_id": "ln_payroll_01", "name": "Crédito de libranza", "kind": "payroll",
                    "min_amount": 2_000_000, "max_amount": 50_000_000, "min_term_months": 12, "max_term_months": 72,
                    "min_annual_rate": "0.1450", "max_annual_rate": "0.2200"},
        "listing": {"title": "Libranza Finanzas Ya", "tagline": "Descuento directo de nómina, tasa baja",
                    "highlights": "Para empleados y pensionados\nCuota fija\nHasta 72 meses"},
        "origins": ["movilco", "billeteraya"], "priority": 20,
        "terms": {"apr": "0.2350", "opening_fee_percent": "0.0100", "document_types": ["CC", "CE"]},
        "campaign": {"price_per_lead": 18_000, "price_per_disbursed": 250_000, "budget": 80_000_000,
                     "daily_lead_cap": 300, "total_lead_cap": 20_000, "min_monthly_income": 1_000_000},
        "origin_caps": {},
    },
    {
        "code": "credirapido", "name": "CrediRápido", "adapter": "offers_api",
        "product": {"product_id": "ln_micro_01", "name": "Microcrédito al instante", "kind": "micro",
                    "min_amount": 300_000, "max_amount": 5_000_000, "min_term_months": 3, "max_term_months": 24,
                    "min_annual_rate": "0.2600", "max_annual_rate": "0.3800"},
        "listing": {"title": "Microcrédito CrediRápido", "tagline": "Desde $300.000 para lo que necesites",
                    "highlights": "Sin historial crediticio\nTodo desde el celular"},
        "origins": ["movilco"], "priority": 30,
        "terms": {"apr": "0.4100", "opening_fee": 25_000},
        "campaign": {"price_per_lead": 6_000, "price_per_approved": 20_000, "budget": 15_000_000,
                     "daily_lead_cap": 500},
        "origin_caps": {"movilco": {"daily_lead_cap": 500, "total_lead_cap": 50_000}},
    },
    {
        # A lender with a plain JSON API described in admin (Lenders › Mapped APIs): no code.
        "code": "coopunion", "name": "Cooperativa Unión", "adapter": "mapped_json",
        "product": {"product_id": "ln_personal_02", "name": "Crédito solidario", "kind": "personal",
                    "min_amount": 500_000, "max_amount": 12_000_000, "min_term_months": 6, "max_term_months": 36,
                    "min_annual_rate": "0.1700", "max_annual_rate": "0.2600"},
        "listing": {"title": "Crédito solidario Cooperativa Unión", "tagline": "Tasa de cooperativa, sin afiliación previa",
                    "highlights": "Cuota fija\nAbonos sin penalidad"},
        "origins": ["billeteraya"], "priority": 40,
        "terms": {"apr": "0.2750", "monthly_fee": 0},
        "campaign": {"price_per_lead": 9_000, "price_per_approved": 30_000, "budget": 20_000_000,
                     "daily_lead_cap": 200},
        "origin_caps": {},
    },
]


# What every demo product, listing and campaign is brought back to, before its own values.
TERMS_DEFAULTS = {"apr": None, "opening_fee": 0, "opening_fee_percent": 0, "monthly_fee": 0, "min_monthly_income": None,
                  "document_types": [], "min_age": None, "max_age": None, "regions": []}
LISTING_DEFAULTS = {"example_amount": None, "example_term_months": None, "is_active": True}
CAMPAIGN_DEFAULTS = {"price_per_lead": 0, "price_per_approved": 0, "price_per_disbursed": 0, "budget": None,
                     "budget_alert_percent": 80, "daily_lead_cap": None, "total_lead_cap": None,
                     "min_monthly_income": None, "min_requested_amount": None, "max_requested_amount": None,
                     "document_types": [], "min_age": None, "max_age": None, "regions": [], "weight": 100}

DISCLOSURE = (
    "Ejemplo representativo calculado a la tasa más alta del producto. Tasas efectivas anuales (E.A.) "
    "fijas; la aprobación depende del estudio de crédito de la entidad."
)


class Command(BaseCommand):
    help = "Load the demo marketplace (idempotent) and print the staff login."

    def add_arguments(self, parser):
        parser.add_argument("--site-url", default=settings.SITE_URL, help="Where the sandbox lenders are served.")
        parser.add_argument("--admin-password", default="", help="Staff password (default: a new random one).")

    @transaction.atomic
    def handle(self, *args, site_url: str, admin_password: str, **options):
        site_url = site_url.rstrip("/")
        origins = {spec["code"]: self._origin(spec) for spec in ORIGINS}
        for spec in LENDERS:
            self._lender_with_offer(spec, origins, site_url)
        password = admin_password or secrets.token_urlsafe(9)
        self._staff_user(password)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Consumer flow : {site_url}/  (origins: {', '.join(origins)})")
        self.stdout.write(f"  Admin         : {site_url}/admin/  user 'admin', password '{password}'")
        self.stdout.write(f"  API docs      : {site_url}/api/docs/")

    def _origin(self, spec: dict) -> Origin:
        origin, _ = Origin.objects.update_or_create(code=spec["code"], defaults={**spec, "is_active": True})
        return origin

    def _lender_with_offer(self, spec: dict, origins: dict[str, Origin], site_url: str) -> None:
        lender = Lender.objects.filter(code=spec["code"]).first() or Lender(
            code=spec["code"],
            postback_key=f"pk_demo_{spec['code'].replace('-', '_')}",
            postback_secret=secrets.token_hex(32),
        )
        lender.name = spec["name"]
        lender.adapter = spec["adapter"]
        lender.environment = Lender.Environment.STAGING
        lender.is_active = True
        # The sandbox of the lender's API style on this site, with the credentials it checks.
        sandbox_lender_prepare(lender=lender, site_url=site_url)

        fields = {**TERMS_DEFAULTS, **spec["product"], **spec["terms"], "lender": lender, "currency": "COP",
                  "state": Product.State.LIVE, "disclosure": DISCLOSURE}
        for name in ("min_amount", "max_amount", "min_annual_rate", "max_annual_rate", "apr", "monthly_fee",
                     "opening_fee", "opening_fee_percent"):
            if fields.get(name) is not None:
                fields[name] = Decimal(str(fields[name]))
        product, _ = Product.objects.update_or_create(product_id=fields.pop("product_id"), defaults=fields)
        if product.went_live_at is None:
            Product.objects.filter(pk=product.pk).update(went_live_at=timezone.now())

        listing = Listing.objects.filter(product=product).order_by("id").first() or Listing(
            product=product, listing_id=listing_id_mint()
        )
        for name, value in {**LISTING_DEFAULTS, **spec["listing"]}.items():
            setattr(listing, name, value)
        listing.save()

        terms = {**CAMPAIGN_DEFAULTS, **spec["campaign"]}
        money = {name: Decimal(value) for name, value in terms.items() if name.startswith("price") or name == "budget"
                 if value is not None}
        campaign, _ = Campaign.objects.update_or_create(
            name=f"{spec['name']} · demo",
            defaults={"lender": lender, "product": product, "is_active": True, "is_draft": False,
                      "priority": spec["priority"], "starts_at": timezone.now() - timedelta(days=1), "ends_at": None,
                      "currency": "COP", **terms, **money},
        )
        campaign.listings.set([listing])
        campaign.origins.set([origins[code] for code in spec["origins"]])
        for code in spec["origins"]:
            caps = {"daily_lead_cap": None, "total_lead_cap": None, **spec["origin_caps"].get(code, {})}
            CampaignOrigin.objects.filter(campaign=campaign, origin=origins[code]).update(**caps)

    def _staff_user(self, password: str) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username="admin").first() or user_model(username="admin")
        user.email = "admin@prosperas.test"
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
