"""Beat keeps the rollups up to date: a real worker with embedded beat runs the refresh task on
its schedule, and a lead started meanwhile shows up in the funnel's rollup."""

import time
import uuid

import pytest

from apps.campaigns.selectors import marketplace_day
from apps.reports.models import FunnelDay, RollupState
from tests.conftest import start_worker, stop_worker
from tests.factories import LeadFactory


@pytest.mark.django_db(transaction=True)
def test_beat_runs_the_rollup_refresh_and_the_funnel_counts_a_new_lead(broker_isolation):
    lead = LeadFactory()
    worker = start_worker({**broker_isolation, "REPORTS_ROLLUP_INTERVAL_SECONDS": "1"},
                          name=f"rollups-{uuid.uuid4().hex[:6]}", concurrency=2, beat=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not FunnelDay.objects.filter(origin=lead.origin).exists():
            time.sleep(0.5)
    finally:
        stop_worker(worker)

    row = FunnelDay.objects.get(origin=lead.origin)
    assert (row.day, row.started, row.lender_id) == (marketplace_day(), 1, lead.lender_id)
    assert set(RollupState.objects.values_list("kind", flat=True)) == {"funnel", "lenders", "postbacks", "campaigns", "stages", "calls"}
