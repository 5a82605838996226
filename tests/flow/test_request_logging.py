"""Log lines carry the web request's id, from the consumer's request into the lines of the worker
that runs the lender call it enqueued (prosperas/logcontext.py), and never personal data."""

import json
import uuid

import pytest

from apps.leads.models import LeadStatus
from tests.conftest import ROOT, start_worker, stop_worker
from tests.factories import ListingFactory, OriginFactory, publish
from tests.flow.conftest import PERSONAL_VALUES, Journey, Shop
from tests.support import wait_until


def test_each_response_names_its_request_id_and_keeps_a_sane_one_from_the_proxy(client, db):
    first, second = client.get("/health/live"), client.get("/health/live")
    forwarded = client.get("/health/live", headers={"X-Request-ID": "edge-7f3a9c21-0001"})
    forged = client.get("/health/live", headers={"X-Request-ID": "x\" injected=1"})

    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]
    assert forwarded["X-Request-ID"] == "edge-7f3a9c21-0001"
    assert forged["X-Request-ID"] != "x\" injected=1" and len(forged["X-Request-ID"]) == 32


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_workers_lines_carry_the_request_id_of_the_request_that_enqueued_the_lender_call(
    sandbox, broker_isolation
):
    name = f"testworker-logs-{uuid.uuid4().hex[:6]}"
    worker = start_worker({**broker_isolation, "LOG_FORMAT": "json"}, name=name)
    try:
        origin = OriginFactory()
        listing = ListingFactory(product=sandbox.product)
        journey = Journey(Shop(origin=origin, listing=listing, campaign=publish(listing=listing, origin=origin)))
        journey.start()

        response = journey.give_identity()  # enqueues the lender call when its transaction commits

        request_id = response["X-Request-ID"]
        lead = journey.reload()
        wait_until(lambda: journey.reload().status == LeadStatus.OFFERED)
        log = (ROOT / "var" / f"{name}.log").read_text()
    finally:
        stop_worker(worker)

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    carried = [line for line in lines if line.get("request_id") == request_id]
    assert any(line["logger"] == "apps.lenders.calls" and line["lead_id"] == str(lead.pk)
               and line["tracking_id"] == lead.tracking_id for line in carried), lines
    assert {"time", "level", "logger", "message"} <= set(carried[0])
    for value in PERSONAL_VALUES:
        assert value not in log
