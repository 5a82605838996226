"""The event table's hot statements (apps/postbacks/rows.py), called directly."""

from django.utils import timezone

from apps.leads.models import LeadStatus
from apps.leads.rows import lead_postback_params
from apps.postbacks import rows
from apps.postbacks.models import PostbackEvent


def event_values(lender, click_id, **fields) -> dict:
    now = timezone.now()
    return {"lender_id": lender.pk, "click_id": click_id, "status": "approved", "event_id": "", "occurred_at": now,
            "received_at": now, "product_id": "", "amount": None, "currency": "", "reason": "",
            "lender_reference": "", "metadata": {}, "looks_like": "", "raw_body": b"{}", "headers": {},
            "source_ip": None, "nonce": "", **fields}


def record(lender, lead, **fields):
    event = event_values(lender, lead.tracking_id, **fields)
    params = lead_postback_params(lender_id=lender.pk, tracking_id=lead.tracking_id, incoming=event["status"],
                                  occurred_at=event["occurred_at"], now=event["received_at"])
    return rows.event_record_moving_lead(event, move_params=params)


def test_one_statement_moves_the_lead_and_records_the_event_against_it(lender, lead):
    recorded = record(lender, lead, nonce="nonce-0001")
    lead.refresh_from_db()
    assert (recorded.effect, recorded.lead_id, recorded.lead_status, recorded.is_repeat) == (
        "applied", lead.pk, "approved", False)
    assert lead.status == LeadStatus.APPROVED
    assert PostbackEvent.objects.get(pk=recorded.event_pk).followed_up_at is None  # a move: follow-up due


def test_one_statement_refuses_a_nonce_the_lender_used_and_undoes_the_move(lender, lead):
    record(lender, lead, nonce="nonce-0001")
    assert record(lender, lead, status="disbursed", nonce="nonce-0001") == rows.REPLAYED
    lead.refresh_from_db()
    assert (lead.status, PostbackEvent.objects.count()) == (LeadStatus.APPROVED, 1)


def test_an_event_insert_decides_is_repeat_and_refuses_a_used_nonce(lender):
    event = {**event_values(lender, "nobody", nonce="nonce-0002"), "lead_id": None, "effect": "unmatched",
             "followed_up_at": timezone.now()}
    first = rows.event_insert(event)
    again = rows.event_insert({**event, "nonce": "nonce-0003"})
    assert (first[1], again[1]) == (False, True)
    assert rows.event_insert(event) is None
    assert rows.event_exists_like({"lender_id": lender.pk, "lead_id": None, "click_id": "nobody",
                                   "status": "approved", "event_id": ""})
    assert not rows.event_exists_like({"lender_id": lender.pk, "lead_id": None, "click_id": "nobody",
                                       "status": "disbursed", "event_id": ""})
