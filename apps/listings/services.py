import secrets
from collections.abc import Iterable

from django.db import connection

from apps.listings.models import Listing, ListingDailyViews
from prosperas.i18n import in_source_language


def listing_id_mint() -> str:
    """A public listing id: `lst_` and 10 random base-32 characters (no guessable sequence)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "lst_" + "".join(secrets.choice(alphabet) for _ in range(10))


@in_source_language  # a text given as `title` is the Spanish one; `title_en` its English
def listing_create(**fields) -> Listing:
    listing = Listing(listing_id=listing_id_mint(), **fields)
    listing.full_clean()
    listing.save()
    return listing


def listing_views_record(*, day, origin_id: int, campaign_listing_ids: Iterable[tuple[int, int]]) -> None:
    """Count one view of each (campaign, listing) shown to this origin's consumer on `day`, in one
    statement (apps/campaigns/catalog.py calls it for the catalog a consumer sees).

    INSERT ... ON CONFLICT DO UPDATE SET views = views + 1: the day's first view creates the row,
    every later one bumps it atomically, so concurrent catalog pages neither lose nor double a
    view. Raw SQL because the ORM's bulk_create can only overwrite on conflict, not increment.
    """
    keys = sorted(set(campaign_listing_ids))
    if not keys:
        return
    table = connection.ops.quote_name(ListingDailyViews._meta.db_table)
    day = connection.ops.adapt_datefield_value(day)
    values = ", ".join(["(%s, %s, %s, %s, 1)"] * len(keys))
    params = [value for campaign, listing in keys for value in (day, origin_id, campaign, listing)]
    sql = (
        f"INSERT INTO {table} (day, origin_id, campaign_id, listing_id, views) VALUES {values} "
        f"ON CONFLICT (day, origin_id, campaign_id, listing_id) DO UPDATE SET views = {table}.views + 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
