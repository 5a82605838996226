from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.listings.models import Listing
from apps.origins.models import Origin


@dataclass(frozen=True)
class CatalogEntry:
    listing: Listing
    campaign: Campaign


def _live_campaigns(origin: Origin):
    now = timezone.now()
    return (
        Campaign.objects.filter(
            is_active=True, origins=origin, starts_at__lte=now, lender__is_active=True,
            product__is_active=True,
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .select_related("lender", "product")
        .prefetch_related("listings")
        .order_by("priority", "id")
    )


def catalog_for_origin(*, origin: Origin) -> list[CatalogEntry]:
    """The listings that a live campaign publishes for this origin, best priority first.

    A listing published by several campaigns appears once, under its highest-priority one.
    Three queries, whatever the number of campaigns or listings.
    """
    entries: dict[int, CatalogEntry] = {}
    for campaign in _live_campaigns(origin):
        for listing in campaign.listings.all():
            if listing.is_active and listing.product_id == campaign.product_id and listing.pk not in entries:
                listing.product = campaign.product
                entries[listing.pk] = CatalogEntry(listing=listing, campaign=campaign)
    return list(entries.values())


def catalog_entry(*, origin: Origin, listing_id: str) -> CatalogEntry | None:
    """The catalog entry for one public listing_id, if this origin may see it now."""
    for entry in catalog_for_origin(origin=origin):
        if entry.listing.listing_id == listing_id:
            return entry
    return None
