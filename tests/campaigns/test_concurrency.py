"""Caps and budgets hold under concurrency: real threads, each with its own database connection,
deliver leads to one campaign at the same moment (PostgreSQL in CI; committed data, so
transactional_db).

100 deliveries run from 25 threads at once (4 each, all released together by a barrier): 25
connections, not 100, because PostgreSQL's default of 100 connections is shared with the rest
of the suite and the other test databases on the machine.
"""

import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from apps.campaigns.models import Campaign, LedgerEntry
from apps.campaigns.selectors import campaign_ledger_totals
from apps.campaigns.services import DeliveryRefused
from apps.leads import services as lead_services
from apps.leads.models import Lead, LeadStatus
from tests.campaigns.conftest import IDENTITY, started
from tests.factories import shelf_with

DELIVERIES = 100
THREADS = 25


def _deliver_all(leads: list[Lead]) -> tuple[list[int], list[DeliveryRefused]]:
    """journey_identity_submit for every lead, THREADS at a time, all starting together."""
    delivered, refused, errors = [], [], []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()

    def work(batch: list[Lead]) -> None:
        try:
            barrier.wait()
            for lead in batch:
                try:
                    lead_services.journey_identity_submit(lead=lead, identity=IDENTITY)
                except DeliveryRefused as refusal:
                    refusal.next_entry  # noqa: B018 - computed in this thread, on its connection
                    with lock:
                        refused.append(refusal)
                else:
                    with lock:
                        delivered.append(lead.pk)
        except Exception as error:  # noqa: BLE001 - reported below, with the test's failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(leads[n::THREADS],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    assert not errors, errors
    return delivered, refused


def _assert_exactly(campaign: Campaign, count: int, delivered: list[int], refused: list, fallback_listing) -> None:
    assert len(delivered) == count
    assert len(refused) == DELIVERIES - count
    assert LedgerEntry.objects.filter(campaign=campaign, kind="lead").count() == count
    assert Lead.objects.filter(campaign=campaign, status=LeadStatus.AWAITING_DECISION).count() == count
    assert Lead.objects.filter(campaign=campaign, status=LeadStatus.NEW).count() == DELIVERIES - count
    campaign.refresh_from_db()
    assert campaign.leads_delivered == campaign_ledger_totals(campaign).leads == count
    assert campaign.spent == campaign_ledger_totals(campaign).spent
    assert campaign.counted_day_leads == campaign.campaign_origins.get().counted_day_leads == count
    # The eleventh consumer (and every one after) is offered the next eligible listing instead.
    assert {refusal.next_entry.listing.pk for refusal in refused} == {fallback_listing.pk}


@pytest.mark.django_db(transaction=True)
def test_a_campaign_capped_at_10_delivers_exactly_10_of_100_concurrent_leads():
    shelf = shelf_with(total_lead_cap=10, price_per_lead=Decimal("1000"))
    leads = [started(shelf) for _ in range(DELIVERIES)]

    delivered, refused = _deliver_all(leads)

    _assert_exactly(shelf.campaign, 10, delivered, refused, shelf.fallback_listing)
    assert {refusal.rule for refusal in refused} == {"total_cap"}


@pytest.mark.django_db(transaction=True)
def test_a_campaign_with_budget_for_7_delivers_exactly_7_of_100_concurrent_leads():
    shelf = shelf_with(budget=Decimal("7000"), price_per_lead=Decimal("1000"))
    leads = [started(shelf) for _ in range(DELIVERIES)]

    delivered, refused = _deliver_all(leads)

    _assert_exactly(shelf.campaign, 7, delivered, refused, shelf.fallback_listing)
    assert {refusal.rule for refusal in refused} == {"budget"}
    shelf.campaign.refresh_from_db()
    assert shelf.campaign.spent == Decimal("7000.00")


@pytest.mark.django_db(transaction=True)
def test_a_daily_cap_per_origin_holds_under_concurrency_too():
    shelf = shelf_with()
    shelf.campaign.campaign_origins.update(daily_lead_cap=4)
    leads = [started(shelf) for _ in range(DELIVERIES)]

    delivered, refused = _deliver_all(leads)

    _assert_exactly(shelf.campaign, 4, delivered, refused, shelf.fallback_listing)
    assert {refusal.rule for refusal in refused} == {"origin_daily_cap"}
