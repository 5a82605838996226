"""A lead's delivery in SQL: the campaigns locked with what their rules read, their links to the
lead's origin, and the charge (ledger rows and running totals) in one statement.

Every lender call of a compare-mode journey waits for the transaction that delivers the lead
(apps.campaigns.services.lead_deliveries_record), and there the ORM's query building cost
several times the database's own work (bench/fanout.py, the platform's time per lender call).
The statements keep the ORM's meaning: the models' own tables, columns and conversions
(prosperas/sql.py), and the order of the locks (campaigns in id order, before their links are
read: a link's counts are moved only under its campaign's lock, so a read after the lock sees
the counts the previous delivery left). Tested directly in tests/campaigns/test_rows.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime

from django.db import connection, models

from apps.campaigns.models import Campaign, CampaignOrigin, LedgerEntry
from apps.lenders.models import SECRET_FIELDS, Lender
from apps.products.models import Product
from prosperas.sql import columns, datetime_param, instance_from_row

@functools.cache
def _loaded_fields() -> tuple[list[models.Field], list[models.Field], list[models.Field]]:
    lender = [field for field in Lender._meta.concrete_fields if field.name not in SECRET_FIELDS]
    return list(Campaign._meta.concrete_fields), list(Product._meta.concrete_fields), lender


def campaigns_locked(campaign_ids: Sequence[int]) -> dict[int, Campaign]:
    """The campaigns, their rows locked until the transaction ends, in id order (two deliveries
    sharing campaigns queue on the first they share and never deadlock), each with its product
    and lender loaded (not the lender's secrets: a delivery never needs them)."""
    if not campaign_ids:
        return {}
    campaign_fields, product_fields, lender_fields = _loaded_fields()
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {columns(campaign_fields, alias='c')}, {columns(product_fields, alias='p')},"
        f" {columns(lender_fields, alias='l')}"
        f" FROM {quote(Campaign._meta.db_table)} c"
        f" JOIN {quote(Product._meta.db_table)} p ON p.id = c.product_id"
        f" JOIN {quote(Lender._meta.db_table)} l ON l.id = c.lender_id"
        " WHERE c.id = ANY(%s) ORDER BY c.id FOR UPDATE OF c"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(campaign_ids)])
        found = cursor.fetchall()
    first, second = len(campaign_fields), len(campaign_fields) + len(product_fields)
    campaigns = {}
    for row in found:
        campaign = instance_from_row(Campaign, campaign_fields, row[:first])
        Campaign._meta.get_field("product").set_cached_value(
            campaign, instance_from_row(Product, product_fields, row[first:second]))
        Campaign._meta.get_field("lender").set_cached_value(
            campaign, instance_from_row(Lender, lender_fields, row[second:]))
        campaigns[campaign.pk] = campaign
    return campaigns


def origin_links(*, campaign_ids: Sequence[int], origin_id: int) -> dict[int, CampaignOrigin]:
    """Each campaign's link to the origin (its caps and counts for that origin), by campaign."""
    if not campaign_ids:
        return {}
    fields = list(CampaignOrigin._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns(fields)} FROM {connection.ops.quote_name(CampaignOrigin._meta.db_table)}"
                       " WHERE campaign_id = ANY(%s) AND origin_id = %s", [list(campaign_ids), origin_id])
        found = cursor.fetchall()
    links = [instance_from_row(CampaignOrigin, fields, row) for row in found]
    return {link.campaign_id: link for link in links}


# One more lead, in all and on the day: a count of an earlier day restarts at one. (In an UPDATE
# every expression reads the row as it was, so the day is set alongside.) Applied to the campaign
# and to its link with the lead's origin; apps.campaigns.services._lead_totals_add is its twin
# in memory, for the budget alert's check.
LEAD_COUNTED = (
    "leads_delivered = leads_delivered + 1,"
    " counted_day_leads = CASE WHEN counted_day = %(day)s THEN counted_day_leads + 1 ELSE 1 END,"
    " counted_day = %(day)s"
)

LEDGER_COLUMNS = ("campaign_id", "lead_id", "origin_id", "lender_id", "kind", "amount", "list_price", "currency",
                  "day", "created_at")
LEDGER_TYPES = ("bigint", "bigint", "bigint", "bigint", "text", "numeric", "numeric", "text", "date", "timestamptz")


def lead_deliveries_charge(entries: Sequence[LedgerEntry], *, origin_id: int, day: date, now: datetime) -> None:
    """Insert the lead deliveries' ledger rows (their ids are set on `entries`) and move their
    campaigns' totals: each campaign's spend by its price per lead (read under the lock the
    caller holds, so it is the amount of its ledger row) and its lead counts, and the counts of
    its link with the lead's origin. One statement; the caller holds each campaign's lock and
    charges it at most one lead."""
    quote = connection.ops.quote_name
    unnest = ", ".join(f"%(c{index})s::{kind}[]" for index, kind in enumerate(LEDGER_TYPES))
    sql = (
        f"WITH inserted AS (INSERT INTO {quote(LedgerEntry._meta.db_table)} ({', '.join(LEDGER_COLUMNS)})"
        f" SELECT * FROM UNNEST({unnest}) RETURNING id, campaign_id),"
        f" campaigns AS (UPDATE {quote(Campaign._meta.db_table)}"
        f" SET spent = spent + price_per_lead, updated_at = %(now)s, {LEAD_COUNTED} WHERE id = ANY(%(charged)s)),"
        f" links AS (UPDATE {quote(CampaignOrigin._meta.db_table)} SET {LEAD_COUNTED}"
        " WHERE campaign_id = ANY(%(charged)s) AND origin_id = %(origin)s)"
        " SELECT id, campaign_id FROM inserted"
    )
    values = [[getattr(entry, column) for entry in entries] for column in LEDGER_COLUMNS[:-1]]
    values.append([datetime_param(entry.created_at) for entry in entries])
    params = {f"c{index}": column for index, column in enumerate(values)}
    params.update(now=datetime_param(now), day=day, charged=[entry.campaign_id for entry in entries],
                  origin=origin_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = dict((campaign_id, pk) for pk, campaign_id in cursor.fetchall())
    for entry in entries:
        entry.pk = ids[entry.campaign_id]
        entry._state.adding = False
