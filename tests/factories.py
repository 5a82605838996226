import secrets
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.models import Lead
from apps.lenders.adapters.base import JOURNEY_FIELDS
from apps.lenders.models import Lender, LenderCredential, secret_digest
from apps.listings.models import Listing
from apps.origins.models import Origin
from apps.products.models import Product
from apps.sandbox.styles import sandbox_base_url, sandbox_style


class OriginFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Origin

    code = factory.Sequence(lambda n: f"origin{n}")
    name = factory.Sequence(lambda n: f"Origin {n}")
    kind = Origin.Kind.CARRIER


class LenderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lender
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"lender-{n}")
    name = factory.Sequence(lambda n: f"Lender {n}")
    adapter = "embedded"
    base_url = "http://127.0.0.1:9/unused"
    timeout_seconds = 15
    max_retries = 3
    credentials = factory.LazyFunction(lambda: {"api_key": "sandbox-" + secrets.token_hex(8)})
    # Every journey field approved: what leaves is then what the adapter declares (apps/lenders/release.py).
    released_fields = factory.LazyFunction(lambda: list(JOURNEY_FIELDS))
    postback_key = factory.Sequence(lambda n: f"pk_test_{n}_{secrets.token_hex(4)}")
    postback_secret = factory.LazyFunction(lambda: secrets.token_hex(32))

    @factory.post_generation
    def issued_credential(lender, create, extracted, **kwargs):
        """The credential row behind the secret, as the platform would have issued it."""
        if create and lender.postback_secret:
            LenderCredential.objects.create(lender=lender, secret=lender.postback_secret, issued_by="factory",
                                            digest=secret_digest(lender.postback_secret))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    product_id = factory.Sequence(lambda n: f"ln_personal_{n + 1:02d}")
    lender = factory.SubFactory(LenderFactory)
    name = "Crédito personal"
    kind = Product.Kind.PERSONAL
    currency = "COP"
    min_amount = Decimal("500000")
    max_amount = Decimal("20000000")
    min_term_months = 6
    max_term_months = 48
    min_annual_rate = Decimal("0.1800")
    max_annual_rate = Decimal("0.3200")


class ListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listing

    listing_id = factory.Sequence(lambda n: f"lst_test{n:06d}")
    product = factory.SubFactory(ProductFactory)
    title = factory.Sequence(lambda n: f"Préstamo {n}")
    tagline = "Respuesta en segundos"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    product = factory.SubFactory(ProductFactory)
    lender = factory.LazyAttribute(lambda o: o.product.lender)
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


def publish(*, listing: Listing, origin: Origin, **fields) -> Campaign:
    """A live campaign that shows `listing` to `origin`."""
    campaign = CampaignFactory(product=listing.product, **fields)
    campaign.listings.add(listing)
    campaign.origins.add(origin)
    return campaign


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    origin = factory.SubFactory(OriginFactory)
    tracking_id = factory.LazyFunction(lambda: str(__import__("uuid").uuid4()))
    public_token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    listing = factory.SubFactory(ListingFactory)
    product = factory.LazyAttribute(lambda o: o.listing.product)
    lender = factory.LazyAttribute(lambda o: o.listing.product.lender)


# --- Sandbox lenders (tests/lenders, tests/sandbox) -------------------------------------------

CONSUMER_IDENTITY = {
    "document_type": "CC",
    "document_number": "1020304050",
    "full_name": "Ana María Pérez",
    "monthly_income": 3_200_000,
}


def sandbox_lender(*, server_url: str, **fields) -> Lender:
    """A lender of the embedded style whose API is the sandbox served at `server_url`
    (pytest-django's live_server.url)."""
    code = fields.pop("code", None) or f"sbx-{secrets.token_hex(4)}"
    return LenderFactory(code=code, base_url=sandbox_base_url(style="embedded", site_url=server_url, code=code), **fields)


def lead_awaiting_decision(*, lender: Lender, **identity) -> Lead:
    """A journey of `lender` whose consumer gave identity and income and waits for the decision."""
    return LeadFactory(
        listing__product__lender=lender, status="awaiting_decision", identity_at=timezone.now(),
        **{**CONSUMER_IDENTITY, **identity},
    )


# --- Sandbox lenders of every API style (tests/lenders, tests/sandbox) -------------------------

# What the async and offers lenders need beyond identity and income (their declared fields).
JOURNEY_EXTRAS = {
    "email": "ana.perez@example.com", "phone": "+573001234567", "birth_date": "1990-05-17", "region": "CO-DC",
    "requested_amount": 3_000_000,
}
EXTRA_DATA = {"employment_status": "employed", "address_line": "Calle 10 # 5-51", "city": "Bogotá", "postal_code": "110111"}


def styled_sandbox_lender(*, style: str, server_url: str, sandbox_options: dict | None = None, **fields) -> Lender:
    """A lender of adapter `style` whose API is that style's sandbox at `server_url`, with the
    credentials that sandbox accepts; `sandbox_options` go to the style's setup (the mapped
    style's `auth`). Any registered style works (apps/sandbox/styles.py)."""
    sandbox = sandbox_style(style)
    code = fields.pop("code", None) or f"sbx-{secrets.token_hex(4)}"
    lender = LenderFactory(
        code=code, adapter=style, base_url=sandbox_base_url(style=style, site_url=server_url, code=code),
        credentials=fields.pop("credentials") if "credentials" in fields else sandbox.credentials(), **fields,
    )
    sandbox.setup(lender, **(sandbox_options or {}))
    return lender


def lead_with_journey_data(*, lender: Lender, **identity) -> Lead:
    """A journey waiting on `lender` with identity, income and every declared field given."""

    extras = {**JOURNEY_EXTRAS, **{k: identity.pop(k) for k in list(identity) if k in JOURNEY_EXTRAS}}
    extra_data = {**EXTRA_DATA, **identity.pop("extra_data", {})}
    lead = lead_awaiting_decision(lender=lender, **extras, **identity)
    lead_extra_data_set(lead=lead, values=extra_data)
    return lead


# --- A small marketplace (tests/campaigns, tests/listings) --------------------------------------

from dataclasses import dataclass  # noqa: E402 - this section's own import, kept with it


@dataclass
class Shelf:
    origin: Origin
    listing: Listing
    campaign: Campaign
    fallback_listing: Listing
    fallback: Campaign


def offer(origin: Origin, *, title: str, **campaign_fields) -> tuple[Listing, Campaign]:
    """A listing of a new lender's product, published to `origin` by a campaign with these fields."""
    listing = ListingFactory(product=ProductFactory(lender=LenderFactory()), title=title)
    return listing, publish(listing=listing, origin=origin, **campaign_fields)


def shelf_with(origin: Origin | None = None, **campaign_fields) -> Shelf:
    """A campaign under test (priority 10) and a fallback below it (priority 50)."""
    origin = origin or OriginFactory()
    listing, campaign = offer(origin, title="Primera oferta", priority=10, **campaign_fields)
    fallback_listing, fallback = offer(origin, title="Oferta de respaldo", priority=50)
    return Shelf(origin=origin, listing=listing, campaign=campaign, fallback_listing=fallback_listing, fallback=fallback)
