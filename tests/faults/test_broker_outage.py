"""The broker dies mid-fan-out (issue 12, item 2): Redis is killed with lender tasks in flight and
more waiting in its queue, stays down ten seconds, and comes back on the same port empty (it
saved nothing). The worker, supervised as in the demo and in production, gets going again with
no hand restart, and the sweep enqueues the work the broker lost: every journey ends with every
lender's decision, no lender gets an application more often than the retries allow, and the
consumer's pages never answer 500.
"""

import time

import pytest

from apps.leads.models import Decision, Lead, LeadStatus
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import ListingFactory, OriginFactory, publish, sandbox_lender
from tests.faults.conftest import Consumer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

JOURNEYS, LENDERS = 4, 5
OUTAGE_SECONDS = 10
# The worker serves fewer calls at once than the fan-out makes, so that when the broker dies some
# tasks are running and the rest are still in Redis (lost with it).
CONCURRENCY = 8
# Lost enqueues are found by having no news for LENDER_SWEEP_STALE_SECONDS (120 s by default);
# shortened here so the test takes well under a minute. Everything else runs at its default.
STALE_SECONDS = 15
RECOVERY_BOUND_SECONDS = OUTAGE_SECONDS + STALE_SECONDS + 25


def test_every_journey_is_decided_after_the_broker_dies_mid_fan_out_with_no_hand_restart(
    live_server, app_broker, supervised_worker, lender_requests,
):
    private_redis = app_broker
    origin = OriginFactory(compare_mode=True)
    lenders = []
    for _ in range(LENDERS):
        lender = sandbox_lender(server_url=live_server.url)
        SandboxLenderSettings.objects.create(lender=lender, latency_ms=1500)
        publish(listing=ListingFactory(product__lender=lender), origin=origin)
        lenders.append(lender)
    worker = supervised_worker(concurrency=CONCURRENCY, LENDER_SWEEP_STALE_SECONDS=str(STALE_SECONDS))

    consumers = [Consumer(live_server.url) for _ in range(JOURNEYS)]
    for consumer in consumers:
        consumer.journey_start(origin.code)
    time.sleep(0.7)  # the first calls are in flight, the rest queued in Redis
    private_redis.kill()
    down_at = time.monotonic()
    # Consumers go on during the outage: one starts (its fan-out cannot be enqueued), all look.
    late = Consumer(live_server.url)
    late.journey_start(origin.code)
    consumers.append(late)
    for consumer in consumers:
        consumer.look()
    time.sleep(OUTAGE_SECONDS - (time.monotonic() - down_at))
    private_redis.start()

    leads = [consumer.lead for consumer in consumers]
    expected = len(leads) * LENDERS
    deadline = down_at + RECOVERY_BOUND_SECONDS
    while Decision.objects.filter(lead__in=leads).count() < expected and time.monotonic() < deadline:
        time.sleep(0.25)
    decided = Decision.objects.filter(lead__in=leads).count()
    recovered_in = time.monotonic() - down_at

    assert decided == expected, (
        f"{decided} of {expected} decisions {recovered_in:.0f} s after the broker died; worker log {worker.log}")
    statuses = set(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("status", flat=True))
    assert statuses == {LeadStatus.OFFERED}
    for consumer in consumers:
        consumer.look()
        assert consumer.server_errors() == []
    lender_requests.assert_no_duplicate_beyond_retries(allowed=1 + lenders[0].max_retries)
    print(f"every journey decided {recovered_in:.1f} s after the broker died "
          f"(down {OUTAGE_SECONDS} s); worker processes started: {len(worker.pids('worker'))}")
