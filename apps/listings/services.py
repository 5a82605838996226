import secrets

from apps.listings.models import Listing


def listing_id_mint() -> str:
    """A public listing id: `lst_` and 10 random base-32 characters (no guessable sequence)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "lst_" + "".join(secrets.choice(alphabet) for _ in range(10))


def listing_create(**fields) -> Listing:
    listing = Listing(listing_id=listing_id_mint(), **fields)
    listing.full_clean()
    listing.save()
    return listing
