"""The event feed, GET /api/v1/events (apps.origin_api.feed, rows.events_sequence): commit order,
an opaque cursor, and no gap or duplicate while writers commit out of id order."""

import random
import threading
import time

import pytest
from django.db import connection, transaction

from apps.leads.engine.results import decision_store
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.origin_api import callbacks, feed
from apps.origin_api.models import OriginEvent, OriginLead
from apps.origin_api.rows import events_sequence
from tests.origin_api.conftest import caller_for, lead_body

pytestmark = pytest.mark.django_db(transaction=True)


def _lead_with_events(caller, partner_lead_id: str, market) -> OriginLead:
    origin_lead = OriginLead.objects.get(uuid=caller.post_lead(lead_body(partner_lead_id)).json()["uuid"])
    for lender in market[1]:
        decision_store(lead_id=origin_lead.lead_id, lender=lender,
                       result=DecisionResult(decision=DecisionKind.REJECTED, reason="x"))
    callbacks.origin_lead_sync(lead_id=origin_lead.lead_id)
    return origin_lead


def _get(caller, token=None, **params):
    return caller.http.get("/api/v1/events", params, HTTP_AUTHORIZATION=f"Bearer {token or caller.token}")


def test_the_feed_pages_the_origins_events_in_order_with_an_opaque_cursor(caller, market):
    first = _lead_with_events(caller, "wallet-1", market)
    second = _lead_with_events(caller, "wallet-2", market)
    other = caller_for(market[0], environment="production")  # the same origin's other environment: not served

    page = _get(caller, limit=4).json()
    assert [event["type"] for event in page["events"]] == ["lead.lender_outcome"] * 2 + ["lead.status_changed",
                                                                                        "lead.lender_outcome"]
    assert page["hasMore"] is True
    rest = _get(caller, cursor=page["nextCursor"]).json()
    assert rest["hasMore"] is False and len(rest["events"]) == 2
    served = [event["id"] for event in page["events"] + rest["events"]]
    stored = OriginEvent.objects.filter(origin_lead__in=[first, second]).order_by("sequence")
    assert served == [event.public_id for event in stored]
    assert rest["events"][-1]["data"]["uuid"] == str(second.uuid)
    assert rest["events"][-1]["data"]["status"] == "no_offers"
    again = _get(caller, cursor=rest["nextCursor"]).json()
    assert again == {"events": [], "nextCursor": rest["nextCursor"], "hasMore": False}
    assert _get(other, token=other.token).json()["events"] == []


def test_a_bad_cursor_or_limit_and_a_token_without_the_events_scope_are_refused(caller, market):
    assert _get(caller, cursor="bm90LWEtY3Vyc29y").json()["error"] == "invalid_cursor"
    forged = feed.cursor_encode(5)[:-2] + "xx"
    assert _get(caller, cursor=forged).status_code == 400
    assert _get(caller, limit=0).json()["error"] == "invalid_limit"
    assert _get(caller, limit="many").status_code == 400
    leads_only = caller_for(market[0], scope="leads")
    response = _get(leads_only, token=leads_only.token)
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")


def test_concurrent_writers_committing_out_of_id_order_leave_no_gap_and_no_duplicate(caller, market):
    origin_lead = OriginLead.objects.get(uuid=caller.post_lead(lead_body("wallet-c")).json()["uuid"])
    writers, per_writer = 8, 12
    written: list[str] = []
    done = threading.Event()

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(per_writer):
                with transaction.atomic():
                    event = OriginEvent.objects.create(
                        public_id=callbacks.event_id_new(), origin_lead=origin_lead, origin=origin_lead.origin,
                        environment=origin_lead.environment, type=OriginEvent.Type.LENDER_OUTCOME,
                        key=f"w{seed}-{n}", payload={"type": "lead.lender_outcome", "timestamp": "t", "data": {}})
                    time.sleep(rng.uniform(0, 0.03))  # committed after others that drew later ids
                written.append(event.public_id)
        finally:
            connection.close()

    def read(served: list[str]) -> None:
        cursor = None
        try:
            while True:
                finished = done.is_set()
                page = feed.origin_events_page(origin=origin_lead.origin, environment=origin_lead.environment,
                                               cursor=cursor, limit=7)
                served += [event.public_id for event in page.events]
                cursor = page.next_cursor
                if finished and not page.has_more:
                    return
                time.sleep(0.005)
        finally:
            connection.close()

    served_by: list[list[str]] = [[], []]
    readers = [threading.Thread(target=read, args=(served,)) for served in served_by]
    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(writers)]
    for thread in readers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()

    by_sequence = list(OriginEvent.objects.filter(origin_lead=origin_lead).order_by("sequence")
                       .values_list("public_id", flat=True))
    for served in served_by:
        assert len(served) == len(set(served)) == writers * per_writer  # no duplicate, no gap
        assert served == by_sequence  # every reader, the same order
    by_id = list(OriginEvent.objects.filter(origin_lead=origin_lead).order_by("id").values_list("public_id", flat=True))
    assert by_id != by_sequence  # commits did land out of id order: paging by id would have skipped some


def test_numbering_skips_an_uncommitted_event_and_numbers_it_next_once_committed(caller, market):
    origin_lead = OriginLead.objects.get(uuid=caller.post_lead(lead_body("wallet-n")).json()["uuid"])
    inserted, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                OriginEvent.objects.create(public_id="evt_slow", origin_lead=origin_lead, origin=origin_lead.origin,
                                           environment="staging", type=OriginEvent.Type.LENDER_OUTCOME, key="slow",
                                           payload={})
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    inserted.wait(10)
    OriginEvent.objects.create(public_id="evt_fast", origin_lead=origin_lead, origin=origin_lead.origin,
                               environment="staging", type=OriginEvent.Type.LENDER_OUTCOME, key="fast", payload={})
    assert events_sequence() == 1  # only the committed one
    release.set()
    thread.join()
    assert events_sequence() == 1 and events_sequence() == 0
    numbers = dict(OriginEvent.objects.values_list("public_id", "sequence"))
    assert numbers["evt_slow"] == numbers["evt_fast"] + 1  # the smaller id, numbered after: commit order
