"""The catalog: which listings an origin's consumers see, in which order, and why one is not shown.

A listing is shown when at least one campaign that publishes it can deliver a lead from this
origin now (apps/campaigns/selectors.py has the rules); it appears once, under its best campaign.
Campaigns are ranked by priority (lower first), then weight (higher first). With a rotation key
(for example the consumer's session), campaigns of equal priority are instead drawn in a
weighted random order that stays the same for that key, so weight becomes a share of the top
places rather than a fixed order.

The catalog a consumer sees (its head, CATALOG_LIMIT entries) is one query whatever the number
of campaigns and listings: the rules and the ranking run in SQL, over the links of the best
ranked deliverable campaigns only, and each listing is then kept once, under its best campaign.
The whole catalog (limit=None) ranks every deliverable link with a window function instead.
bench/catalog.py measures both.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.campaigns.selectors import (
    marketplace_day,
    RuleFailure,
    campaign_context,
    campaign_rule_failure,
    campaigns_deliverable_for_origin,
    lead_facts,
    lead_rule_failure,
)
from apps.listings.models import Listing
from apps.listings.services import listing_views_record
from apps.origins.models import Origin

# A consumer's phone shows a few offers; the catalog never loads more than this many entries.
CATALOG_LIMIT = 50

ListingLink = Campaign.listings.through
SUBQUERY_FENCE = 1_000_000  # more campaigns than any marketplace runs at once


@dataclass(frozen=True)
class CatalogEntry:
    listing: Listing
    campaign: Campaign
    link_id: int | None = None  # the campaign-listing link it was drawn from


def _deliverable_links(*, origin: Origin | int, now: datetime | None, best_campaigns: int | None = None):
    """Links (campaign → listing) of every campaign that can take a lead from this origin now,
    to an active listing of the campaign's own product; with `best_campaigns`, only the links of
    that many best-ranked such campaigns."""
    deliverable = campaigns_deliverable_for_origin(origin=origin, now=now).order_by()
    if best_campaigns is not None:
        # A campaign counts only with a link to show, so the first n links in rank order all come
        # from its first n campaigns: enough for the head of the catalog, and ~20x fewer rows.
        showable = ListingLink.objects.filter(
            campaign_id=OuterRef("pk"), listing__is_active=True, listing__product_id=OuterRef("product_id")
        )
        ranked = deliverable.filter(Exists(showable)).order_by("priority", "-weight", "pk")
        chosen = ranked.values("pk")[:best_campaigns]
    else:
        # The LIMIT only fences the subquery: PostgreSQL then plans it once, on its own, and
        # hashes the campaigns it returns. Flattened into the links' join, the cross-table product
        # match (listing.product = campaign.product) makes it guess a handful of rows and probe
        # every campaign rule once per link instead (25 ms against 10 ms, bench/catalog.py).
        chosen = deliverable.values("pk")[:SUBQUERY_FENCE]
    return ListingLink.objects.filter(
        campaign_id__in=chosen, listing__is_active=True, listing__product_id=F("campaign__product_id"),
    )


RANK_ORDER = [F("campaign__priority").asc(), F("campaign__weight").desc(), F("campaign_id").asc()]


def _best_link_per_listing(links):
    """Each listing once, under its best-ranked campaign (a window function, filtered in SQL)."""
    return links.annotate(
        rank_in_listing=Window(RowNumber(), partition_by=[F("listing_id")], order_by=RANK_ORDER)
    ).filter(rank_in_listing=1)


# Columns a catalog page never shows, left unread: the lender's secrets (so none is decrypted to
# draw a page) and bookkeeping timestamps (a fifth of the time spent turning rows into objects).
# Code that does read one of them still gets it, with one more query. The listing's and product's
# last change are read: they key the page's kept cards (templates/flow/catalog.html).
UNREAD_COLUMNS = (
    *(f"campaign__lender__{name}" for name in (
        "credentials", "postback_secret", "postback_secret_previous", "created_at", "updated_at")),
    *(f"campaign__{name}" for name in ("created_at", "updated_at", "budget_alerted_at")),
    *(f"campaign__product__{name}" for name in ("created_at", "went_live_at")),
    "listing__created_at",
)


def _with_entry_data(links):
    return links.select_related("listing", "campaign__lender", "campaign__product").defer(*UNREAD_COLUMNS)


def _entries(links) -> list[CatalogEntry]:
    entries = []
    for link in links:
        link.listing.product = link.campaign.product  # the same product (checked in SQL): no extra join
        entries.append(CatalogEntry(listing=link.listing, campaign=link.campaign, link_id=link.pk))
    return entries


def _rotation_score(rotation_key: str, campaign_id: int, weight: int) -> float:
    """Efraimidis-Spirakis: u^(1/w), u drawn from a hash of the key, so it is stable per key."""
    digest = hashlib.blake2b(f"{rotation_key}:{campaign_id}".encode(), digest_size=8).digest()
    uniform = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)
    return math.log(uniform) / max(weight, 1)


def _rotated(links, rotation_key: str, limit: int | None) -> list[CatalogEntry]:
    """Within each priority, campaigns in a weighted random order stable for the key (two queries)."""
    rows = list(links.values_list("id", "campaign_id", "listing_id", "campaign__priority", "campaign__weight"))
    rows.sort(key=lambda row: (row[3], -_rotation_score(rotation_key, row[1], row[4]), row[1], row[2]))
    chosen, seen = [], set()
    for link_id, _campaign, listing_pk, _priority, _weight in rows:
        if listing_pk not in seen:
            seen.add(listing_pk)
            chosen.append(link_id)
    chosen = chosen[:limit] if limit is not None else chosen
    position = {link_id: index for index, link_id in enumerate(chosen)}
    entries = _entries(_with_entry_data(ListingLink.objects.filter(pk__in=chosen)))
    return sorted(entries, key=lambda entry: position[entry.link_id])


def _ranked(links, limit: int | None):
    """Each listing once, under its best campaign, ranked and cut in SQL (a window function over
    every deliverable link: exact whatever the sharing of listings between campaigns)."""
    ranked = _best_link_per_listing(links).order_by(*RANK_ORDER, "listing_id").values("pk")
    kept = ListingLink.objects.filter(pk__in=ranked[:limit] if limit is not None else ranked)
    return _with_entry_data(kept.order_by(*RANK_ORDER, "listing_id"))


def _top_links(links, count: int):
    """The first `count` links in rank order, duplicates included: a top-N sort, cheaper than the
    window when only the head of the catalog is wanted (see catalog_for_origin)."""
    ranked = links.order_by(*RANK_ORDER, "listing_id").values("pk")[:count]
    return _with_entry_data(ListingLink.objects.filter(pk__in=ranked).order_by(*RANK_ORDER, "listing_id"))


def _first_per_listing(entries: list[CatalogEntry], limit: int) -> list[CatalogEntry]:
    """Links come in rank order, so a listing's first link is its best campaign's."""
    seen, kept = set(), []
    for entry in entries:
        if entry.listing.pk not in seen:
            seen.add(entry.listing.pk)
            kept.append(entry)
    return kept[:limit]


# Links read beyond the limit, so that listings shown by several top campaigns still fill it.
CATALOG_SLACK = 5

# The catalog's query per (origin, link count). Its shape never changes (time is the database's
# clock, see campaign_deliverable_q) and building it costs more than running it, so it is built
# once per process and cloned for each call.
_CATALOG_QUERIES: dict[tuple[int, int], object] = {}


def _catalog_query(origin_id: int, count: int):
    key = (origin_id, count)
    query = _CATALOG_QUERIES.get(key)
    if query is None:
        links = _deliverable_links(origin=origin_id, now=None, best_campaigns=count)
        query = _CATALOG_QUERIES[key] = _top_links(links, count)
    return query.all()


def catalog_for_origin(
    *, origin: Origin, limit: int | None = CATALOG_LIMIT, rotation_key: str | None = None,
    now: datetime | None = None,
) -> list[CatalogEntry]:
    """The listings this origin's consumers can apply to now, best first (module docstring).

    One query: the head of the ranked links (limit + CATALOG_SLACK of them), kept once per
    listing. Only when listings shared by top campaigns leave the head short of the limit is
    the exact, slower ranking run as well. `now` looks at another moment (tests, staff); by
    default time is the database's.
    """
    if rotation_key:
        return _rotated(_deliverable_links(origin=origin, now=now), rotation_key, limit)
    if limit is None or now is not None:
        return _entries(_ranked(_deliverable_links(origin=origin, now=now), limit))
    count = limit + CATALOG_SLACK
    head = _entries(_catalog_query(origin.pk, count))
    entries = _first_per_listing(head, limit)
    if len(entries) < limit and len(head) == count:
        entries = _entries(_ranked(_deliverable_links(origin=origin, now=None), limit))
    return entries


# The deliverable links of an origin in rank order, per origin: what catalog_entry filters by
# listing. Kept per process for the reason _CATALOG_QUERIES is: building it costs about as much
# as running it, on every listing a consumer chooses in the flow.
_ENTRY_QUERIES: dict[int, object] = {}


def _entry_query(origin_id: int):
    query = _ENTRY_QUERIES.get(origin_id)
    if query is None:
        links = _deliverable_links(origin=origin_id, now=None)
        query = _ENTRY_QUERIES[origin_id] = _with_entry_data(links.order_by(*RANK_ORDER))
    return query.all()


def catalog_entry(*, origin: Origin, listing_id: str, now: datetime | None = None) -> CatalogEntry | None:
    """The catalog entry for one public listing_id, if this origin may apply to it now (one query)."""
    if now is None:
        links = _entry_query(origin.pk)
    else:
        links = _with_entry_data(_deliverable_links(origin=origin, now=now).order_by(*RANK_ORDER))
    entries = _entries(links.filter(listing__listing_id=listing_id)[:1])
    return entries[0] if entries else None


def catalog_next_for_lead(*, lead, exclude_listing_ids: set[int] = frozenset()) -> CatalogEntry | None:
    """The best listing this consumer's data qualifies for, other than the excluded ones: what
    the flow offers when the chosen listing can no longer take the application."""
    facts = lead_facts(lead)
    for entry in catalog_for_origin(origin=lead.origin):
        if entry.listing.pk in exclude_listing_ids:
            continue
        if lead_rule_failure(entry.campaign, facts) is None:
            return entry
    return None


# --- "Why not shown", for staff -------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignVerdict:
    campaign: Campaign
    failure: RuleFailure | None  # None: this campaign shows the listing


@dataclass(frozen=True)
class ShownExplanation:
    shown: bool
    reason: RuleFailure | None  # the first rule that hides the listing, when hidden
    campaigns: list[CampaignVerdict]  # each campaign of the listing and what stops it


def listing_why_not_shown(*, listing: Listing, origin: Origin, now: datetime | None = None) -> ShownExplanation:
    """For one listing and one origin: shown or not, and the first rule that hides it.

    Listing rules come first (switched off, not published); then each campaign publishing it
    is checked by the same rules as delivery, best ranked first. The reason given is the first
    failing rule of the best-ranked campaign, since fixing that one would show the listing.
    """
    now = now or timezone.now()
    if not listing.is_active:
        return ShownExplanation(False, RuleFailure("listing_inactive", "The listing is switched off."), [])
    campaigns = list(
        Campaign.objects.filter(listings=listing).select_related("lender", "product")
        .order_by("priority", "-weight", "id")
    )
    if not campaigns:
        return ShownExplanation(False, RuleFailure("no_campaign", "No campaign publishes this listing."), [])
    verdicts = [
        CampaignVerdict(campaign, _listing_campaign_failure(listing, campaign, origin, now)) for campaign in campaigns
    ]
    if any(verdict.failure is None for verdict in verdicts):
        return ShownExplanation(True, None, verdicts)
    targeted = [v for v in verdicts if v.failure.rule != "origin_not_targeted"]
    best = (targeted or verdicts)[0]
    return ShownExplanation(False, best.failure, verdicts)


def _listing_campaign_failure(
    listing: Listing, campaign: Campaign, origin: Origin, now: datetime
) -> RuleFailure | None:
    if listing.product_id != campaign.product_id:
        message = f"The campaign promotes {campaign.product.product_id}, not this listing's product."
        return RuleFailure("product_mismatch", message)
    return campaign_rule_failure(campaign_context(campaign=campaign, origin=origin, now=now))


def catalog_views_record(*, origin, entries: Iterable[CatalogEntry]) -> None:
    """Count one view of each catalog entry shown, on the marketplace's day: the top of the funnel."""
    keys = {(entry.campaign.pk, entry.listing.pk) for entry in entries}
    listing_views_record(day=marketplace_day(), origin_id=origin.pk, campaign_listing_ids=keys)
