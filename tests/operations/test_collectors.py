"""The gauges computed at scrape time, read through each app's selectors and from the broker."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.leads.models import Lead, LeadStatus
from apps.leads.selectors import journeys_by_status
from apps.lenders.selectors import lender_circuit_states
from apps.operations.collectors import broker_client, queue_figures
from apps.operations.signals import PUBLISHED_AT
from apps.postbacks.selectors import postback_follow_up_backlog
from apps.postbacks.services import PostbackData, postback_ingest
from prosperas.celery import app as celery_app
from tests.factories import LeadFactory, LenderFactory
from tests.support import postback_apply

pytestmark = pytest.mark.django_db


def test_journeys_are_counted_by_status_among_those_that_changed_recently():
    LeadFactory(status=LeadStatus.OFFERED)
    LeadFactory(status=LeadStatus.OFFERED)
    LeadFactory(status=LeadStatus.NEW)
    old = LeadFactory(status=LeadStatus.NEW)
    Lead.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(hours=3))

    counts = journeys_by_status(since=timezone.now() - timedelta(hours=1))

    assert (counts[LeadStatus.OFFERED], counts[LeadStatus.NEW], counts[LeadStatus.APPROVED]) == (2, 1, 0)
    assert set(counts) == set(LeadStatus.values)


def test_the_follow_up_backlog_counts_applied_events_still_due_and_the_oldests_age():
    assert postback_follow_up_backlog(now=timezone.now()) == (0, 0.0)
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)

    postback_ingest(lender=lead.lender, raw_body=b"{}", headers={}, source_ip=None,
                    data=PostbackData(click_id=lead.tracking_id, status="approved"))

    due, oldest = postback_follow_up_backlog(now=timezone.now() + timedelta(seconds=30))
    assert due == 1 and 29 <= oldest < 60
    postback_apply(lead, "disbursed")  # runs the follow-ups too
    assert postback_follow_up_backlog(now=timezone.now())[0] == 0


def test_circuit_states_name_each_active_lender():
    LenderFactory(code="zeta-bank", circuit_state="open")
    LenderFactory(code="alpha-bank")
    LenderFactory(code="retired-bank", is_active=False)

    assert lender_circuit_states() == [("alpha-bank", "closed"), ("zeta-bank", "open")]


def test_queue_depth_and_the_oldest_tasks_age_come_from_the_brokers_lists(broker_isolation):
    client = broker_client()
    prefix = celery_app.conf.broker_transport_options["global_keyprefix"]
    now = time.time()
    # This run's queues may hold what earlier tests enqueued and no worker took: start from empty ones.
    client.delete(*[prefix + name for name in ("lender_calls", "default", "lender_calls\x06\x163", "default\x06\x163")])
    message = json.dumps({"body": "", "headers": {PUBLISHED_AT: now - 42}, "properties": {}})
    client.lpush(prefix + "lender_calls", json.dumps({"headers": {PUBLISHED_AT: now - 1}}))
    client.rpush(prefix + "lender_calls", message)  # the right end is the oldest (kombu pops there)
    client.lpush(prefix + "lender_calls\x06\x163", message)
    try:
        depth, oldest, unacked = queue_figures(client, now=now)
    finally:
        client.delete(prefix + "lender_calls", prefix + "lender_calls\x06\x163")

    assert depth == {"lender_calls": 3, "default": 0}
    assert round(oldest["lender_calls"]) == 42 and oldest["default"] == 0.0
    assert unacked == 0
