"""Reads of listings. Which listings an origin is shown, and why one is not, depends on the
campaigns that publish them: apps/campaigns/catalog.py."""

from __future__ import annotations

from apps.listings.models import Listing


def listing_get(*, listing_id: str) -> Listing | None:
    """A listing by its public id, with its product and lender (for its representative example)."""
    return Listing.objects.select_related("product__lender").filter(listing_id=listing_id).first()
