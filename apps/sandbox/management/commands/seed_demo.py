"""Demo data for `make run`: origins, sandbox lenders, products, listings, campaigns, a staff user.

One sandbox lender per registered API style, as its sandbox module declares it
(`SandboxStyle.demo_lender`, apps/sandbox/styles.py): its product, listing and campaign, their
texts in Spanish and English.

Safe to run again: rows are found by their codes and brought back to the demo's values; secrets
already generated are kept, so postbacks signed earlier still verify, and the ledger and the
campaigns' spend are left as they are.

The campaigns have budgets, prices, caps and delivery conditions that a demo never runs out of.
Their conditions only use what the flow asks (document type, income): a condition on data the
flow does not collect (age, region) would refuse every lead. Finanzas Ya takes incomes from
COP 1,000,000, so a lower one is offered another listing; from 1,000,000 to 1,200,000 the
sandbox lender itself says no.
"""

import io
import json
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignOrigin
from apps.legal.models import DataController
from apps.lenders.credentials import credential_issue
from apps.lenders.models import Lender
from apps.listings.models import Listing
from apps.listings.services import listing_id_mint
from apps.origins.models import Origin
from apps.products.models import Product
from apps.sandbox.styles import sandbox_lender_prepare, sandbox_styles
from prosperas.i18n import in_source_language
from prosperas.roles import ROLES

ORIGINS = [
    {"code": "movilco", "name": "MovilCo", "kind": Origin.Kind.CARRIER, "prefix_tracking_ids": True},
    {"code": "billeteraya", "name": "Billetera Ya", "kind": Origin.Kind.WALLET, "prefix_tracking_ids": False},
]

# What every demo product, listing and campaign is brought back to, before its own values.
TERMS_DEFAULTS = {"apr": None, "opening_fee": 0, "opening_fee_percent": 0, "monthly_fee": 0, "min_monthly_income": None,
                  "document_types": [], "min_age": None, "max_age": None, "regions": []}
LISTING_DEFAULTS = {"example_amount": None, "example_term_months": None, "is_active": True, "call_to_action": "",
                    "call_to_action_en": ""}
CAMPAIGN_DEFAULTS = {"price_per_lead": 0, "price_per_approved": 0, "price_per_disbursed": 0, "budget": None,
                     "budget_alert_percent": 80, "daily_lead_cap": None, "total_lead_cap": None,
                     "min_monthly_income": None, "min_requested_amount": None, "max_requested_amount": None,
                     "document_types": [], "min_age": None, "max_age": None, "regions": [], "weight": 100}

# The legal page's data controller until staff set the real one (Legal › Data controller); an
# existing row is left as staff wrote it.
DATA_CONTROLLER = {"legal_name": "Prosperas S.A.S.", "address": "Carrera 7 # 71-21, Bogotá D.C.",
                   "email": "datospersonales@prosperas.co", "phone": "+57 601 745 0000"}

DISCLOSURE = (
    "Ejemplo representativo calculado a la tasa más alta del producto. Tasas efectivas anuales (E.A.) "
    "fijas; la aprobación depende del estudio de crédito de la entidad."
)


class Command(BaseCommand):
    help = "Load the demo marketplace (idempotent) and print the staff login."

    def add_arguments(self, parser):
        parser.add_argument("--site-url", default=settings.SITE_URL, help="Where the sandbox lenders are served.")
        parser.add_argument("--admin-password", default="", help="Staff password (default: a new random one).")

    # Texts without a language suffix (a listing's "title") are the Spanish ones, whatever language
    # the command runs in; "title_en" and the like are their English versions.
    @in_source_language
    @transaction.atomic
    def handle(self, *args, site_url: str, admin_password: str, **options):
        site_url = site_url.rstrip("/")
        origins = {spec["code"]: self._origin(spec) for spec in ORIGINS}
        for style in sandbox_styles().values():
            self._lender_with_offer({**style.demo_lender, "adapter": style.key}, origins, site_url)
        DataController.objects.get_or_create(pk=1, defaults=DATA_CONTROLLER)
        password = admin_password or secrets.token_urlsafe(9)
        self._staff_user(password)
        roles = self._role_users(password)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Consumer flow : {site_url}/  (origins: {', '.join(origins)})")
        self.stdout.write(f"  Admin         : {site_url}/admin/  user 'admin', password '{password}'")
        self.stdout.write(f"                  one user per staff role, same password: {', '.join(roles)}")
        self.stdout.write(f"  API docs      : {site_url}/api/docs/")
        self._origin_api_clients(origins, site_url)

    def _origin_api_clients(self, origins: dict[str, Origin], site_url: str) -> None:
        """A staging client of the origins' API for each demo origin, made by its own command (the
        sandbox does not import the origins' API); a secret is printed the run it is made."""
        self.stdout.write(f"  Origin API    : {site_url}/docs/origins/  staging clients:")
        for code in origins:
            out = io.StringIO()
            call_command("origin_credentials", code, environment="staging", if_missing=True, stdout=out)
            issued = json.loads(out.getvalue())
            secret = issued["client_secret"] or "(shown when it was made; `manage.py origin_credentials` rotates it)"
            self.stdout.write(f"                  {code}: client_id {issued['client_id']}  client_secret {secret}")

    def _origin(self, spec: dict) -> Origin:
        origin, _ = Origin.objects.update_or_create(code=spec["code"], defaults={**spec, "is_active": True})
        return origin

    def _lender_with_offer(self, spec: dict, origins: dict[str, Origin], site_url: str) -> None:
        lender = Lender.objects.filter(code=spec["code"]).first() or Lender(
            code=spec["code"],
            postback_key=f"pk_demo_{spec['code'].replace('-', '_')}",
        )
        lender.name = spec["name"]
        lender.adapter = spec["adapter"]
        lender.environment = Lender.Environment.STAGING
        lender.is_active = True
        # The sandbox of the lender's API style on this site, with the credentials it checks.
        sandbox_lender_prepare(lender=lender, site_url=site_url)
        if not lender.postback_credentials.exists():  # issued once: a second load keeps the secret
            credential_issue(lender=lender, issued_by="seed_demo")
            lender.refresh_from_db()

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

    def _role_users(self, password: str) -> list[str]:
        """A staff user named after each role (prosperas/roles.py), in its group only: to
        see admin as support, marketplace, integrations, compliance or an analyst sees it."""
        user_model = get_user_model()
        for role in ROLES:
            user = user_model.objects.filter(username=role).first() or user_model(username=role)
            user.email = f"{role}@prosperas.test"
            user.is_staff, user.is_superuser, user.is_active = True, False, True
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
        return list(ROLES)

    def _staff_user(self, password: str) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username="admin").first() or user_model(username="admin")
        user.email = "admin@prosperas.test"
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
