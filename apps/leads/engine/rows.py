"""The claim's reads in SQL: what every lender call of a compare fan-out reads before its call.

A fan-out of K lenders makes K claims at once in one worker process, and no lender call starts
before its claim is done, so their cost is paid by every lender of the fan-out. Through the ORM
these reads cost several times the database's own time in building the queries (a joined
select of some twenty columns above all), so they are written once here, with the models' own
table and column names and the fields' own conversions (`from_db_value`: the lead's encrypted
fields are decrypted as the ORM decrypts them). Each is its own statement, run after the row
lock is taken: a statement's snapshot is taken when it starts, so a read folded into the
locking select would not see what the attempt it waited for wrote. Then what storing an answer
does most (results.decision_record): the lead locked, and a compare-mode journey moved to offered
with its event. Helpers in prosperas/sql.py; everything else in the engine uses the ORM. Tested
directly in tests/leads/engine/test_rows.py.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from apps.leads.models import Decision, DecisionRequest, Lead, LeadEvent, LeadStatus
from apps.leads.signals import lead_changed_on_commit
from apps.listings.models import Listing
from apps.products.models import Product
from prosperas.sql import columns, datetime_param, fetch_one, fields_of, instance_from_row

# What a compare-mode attempt reads of its ask, and of its journey (services.JOURNEY_FIELDS_READ
# without the lead's own product and listing: the ask's are the ones applied for).
ASK_FIELDS = ("id", "state", "lead", "lender", "campaign", "product", "listing")
JOURNEY_FIELDS = (
    "id", "tracking_id", "status", "compare_mode", "lender", "document_type", "document_number", "full_name",
    "email", "phone", "birth_date", "region", "monthly_income", "currency", "requested_amount", "lender_reference",
    "chosen_offer", "consent_revoked_at",
)


def compare_ask_locked(*, lead_id: int, lender_id: int) -> DecisionRequest | None:
    """The compare-mode ask of this lead and lender, its row locked until the transaction ends,
    with its journey's fields and the catalog entry asked for (product_id, listing_id) cached on
    it; None when there is no such ask or the lead is not in compare mode."""
    ask_fields, lead_fields = fields_of(DecisionRequest, ASK_FIELDS), fields_of(Lead, JOURNEY_FIELDS)
    product_fields, listing_fields = fields_of(Product, ("id", "product_id")), fields_of(Listing, ("id", "listing_id"))
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {columns(ask_fields, alias='a')}, {columns(lead_fields, alias='l')},"
        f" {columns(product_fields, alias='p')}, {columns(listing_fields, alias='s')}"
        f" FROM {quote(DecisionRequest._meta.db_table)} a"
        f" JOIN {quote(Lead._meta.db_table)} l ON l.id = a.lead_id"
        f" JOIN {quote(Product._meta.db_table)} p ON p.id = a.product_id"
        f" JOIN {quote(Listing._meta.db_table)} s ON s.id = a.listing_id"
        f" WHERE a.lead_id = %s AND a.lender_id = %s AND l.compare_mode = %s FOR UPDATE OF a"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [lead_id, lender_id, True])
        row = cursor.fetchone()
    if row is None:
        return None
    ends = _offsets(ask_fields, lead_fields, product_fields)
    ask = instance_from_row(DecisionRequest, ask_fields, row[:ends[0]])
    related = {
        "lead": instance_from_row(Lead, lead_fields, row[ends[0]:ends[1]]),
        "product": instance_from_row(Product, product_fields, row[ends[1]:ends[2]]),
        "listing": instance_from_row(Listing, listing_fields, row[ends[2]:]),
    }
    for name, instance in related.items():
        DecisionRequest._meta.get_field(name).set_cached_value(ask, instance)
    return ask


def _offsets(*groups: list) -> list[int]:
    ends, total = [], 0
    for group in groups:
        total += len(group)
        ends.append(total)
    return ends


def decision_outcome(*, lead_id: int, lender_id: int) -> str | None:
    """The outcome of the decision stored for this lead and lender, if any."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT outcome FROM {connection.ops.quote_name(Decision._meta.db_table)}"
                       " WHERE lead_id = %s AND lender_id = %s", [lead_id, lender_id])
        row = cursor.fetchone()
    return row[0] if row else None


LOCKED_LEAD_FIELDS = ("id", "status", "compare_mode", "lender_reference", "announces_changes", "result_email_requested_at")


def lead_locked(*, lead_id: int) -> Lead:
    """The lead's status, mode and lender reference, its row locked until the transaction ends
    (reading the latest status once any transaction moving it is done).

    Every lock on a lead is FOR NO KEY UPDATE: it queues behind every other lock on the lead as
    FOR UPDATE would, but not behind the key-share lock with which a row referring to the lead
    (a lender call, a decision) is checked when its transaction commits. A worker's claim holds
    its compare ask and commits the call it opened; a FOR UPDATE on the lead taken meanwhile by a
    transaction that then wants that ask (a revocation, a retry) would deadlock with it."""
    fields = fields_of(Lead, LOCKED_LEAD_FIELDS)
    row = fetch_one(f"SELECT {columns(fields)} FROM {connection.ops.quote_name(Lead._meta.db_table)}"
                    " WHERE id = %s FOR NO KEY UPDATE", [lead_id])
    if row is None:
        raise Lead.DoesNotExist(f"No lead {lead_id}.")
    return instance_from_row(Lead, fields, row)


def lead_offered_with_event(lead: Lead, *, message: str) -> None:
    """Move a compare-mode journey whose lead the caller holds locked (lead_locked) to offered,
    with the decision's event, in one statement: a lender approved with offers, so whatever the
    others answer it is offered (apps.leads.selectors.compare_status)."""
    now = timezone.now()
    quote = connection.ops.quote_name
    fetch_one(
        f"WITH moved AS (UPDATE {quote(Lead._meta.db_table)}"
        " SET status = %(offered)s, updated_at = %(now)s, decided_at = %(now)s WHERE id = %(lead)s)"
        f" INSERT INTO {quote(LeadEvent._meta.db_table)} (lead_id, kind, status, message, created_at)"
        " VALUES (%(lead)s, %(kind)s, %(offered)s, %(message)s, %(now)s) RETURNING id",
        {"lead": lead.pk, "offered": LeadStatus.OFFERED, "now": datetime_param(now), "kind": LeadEvent.Kind.DECISION,
         "message": message[:512]},
    )
    lead.status, lead.updated_at, lead.decided_at = LeadStatus.OFFERED, now, now
    lead_changed_on_commit(lead)
