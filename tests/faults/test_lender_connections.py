"""A lender whose connections stall or reset: the journey ends in a clear "try again" state once
the lender's retries are spent (never waiting for ever, never a 500 to the consumer), the lender
got the same request once per attempt allowed and no more, and the consumer's "try again" goes
through once the lender answers again. A real worker, the sandbox lender over real HTTP
(a stall waits past the deadline; a reset drops the TCP connection with no answer)."""

import pytest

from apps.leads.models import Decision, LeadStatus
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import ListingFactory, OriginFactory, publish, sandbox_lender
from tests.faults.conftest import Consumer
from tests.support import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

TRY_AGAIN = "Intentar de nuevo"


def test_lenders_whose_connections_stall_or_reset_end_the_journey_in_try_again_and_try_again_works(
    live_server, celery_worker, lender_requests,
):
    journeys = {}
    for step in ("stall", "reset"):  # side by side, one worker
        origin = OriginFactory(compare_mode=True)
        lender = sandbox_lender(server_url=live_server.url, max_retries=2)
        publish(listing=ListingFactory(product__lender=lender), origin=origin)
        SandboxLenderSettings.objects.create(lender=lender, failure_script=", ".join([step] * (1 + lender.max_retries)),
                                             stall_seconds=4)
        consumer = Consumer(live_server.url)
        consumer.journey_start(origin.code)
        journeys[step] = (consumer, lender)

    for step, (consumer, lender) in journeys.items():
        attempts = 1 + lender.max_retries
        lead = consumer.lead
        wait_until(lambda: consumer.lead.status == LeadStatus.DECISION_FAILED, timeout=40, interval=0.2)  # noqa: B023
        page = consumer.request("GET", f"/j/{consumer.token}/decision")
        assert page.status_code == 200 and TRY_AGAIN in page.text, step
        calls = list(LenderCall.objects.filter(lead=lead).order_by("attempt").values_list("outcome", flat=True))
        assert calls == ["technical_failure"] * attempts, step
        bodies = lender_requests.of(lender.code, lead.tracking_id)
        assert len(bodies) == attempts and len(set(bodies)) == 1, step  # each retry is the identical request

        # The lender is back: "try again" asks it once more, with the same tracking ID.
        assert consumer.request("POST", f"/j/{consumer.token}/retry").status_code == 303
        wait_until(lambda: Decision.objects.filter(lead=lead).exists(), timeout=20, interval=0.2)  # noqa: B023
        assert consumer.lead.status == LeadStatus.OFFERED, step
        bodies = lender_requests.of(lender.code, lead.tracking_id)
        assert len(bodies) == attempts + 1 and len(set(bodies)) == 1, step
        consumer.look()
        assert consumer.server_errors() == [], step
