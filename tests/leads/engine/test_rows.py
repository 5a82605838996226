"""The engine's hot reads in SQL, tested directly: each returns what the ORM would, and the
claim's read locks the ask it reads."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from django.test.utils import CaptureQueriesContext

from apps.leads.engine.rows import compare_ask_locked, decision_outcome, lead_locked, lead_offered_with_event
from apps.leads.models import Decision, DecisionRequest, Lead, LeadEvent, LeadStatus
from apps.lenders.models import LenderCall
from apps.lenders.rows import lender_calls_earlier
from tests.factories import CONSUMER_IDENTITY, LeadFactory, LenderFactory, ListingFactory


def compare_ask(**lead_fields):
    lender = LenderFactory()
    listing = ListingFactory(product__lender=lender)
    lead = LeadFactory(compare_mode=True, lender=None, listing=None, product=None, email="ana.perez@example.com",
                       **CONSUMER_IDENTITY, **lead_fields)
    return DecisionRequest.objects.create(lead=lead, lender=lender, listing=listing, product=listing.product)


@pytest.mark.django_db
def test_the_compare_ask_comes_with_its_journey_decrypted_and_the_catalog_entry_asked_for():
    stored = compare_ask()
    with transaction.atomic():
        ask = compare_ask_locked(lead_id=stored.lead_id, lender_id=stored.lender_id)
    assert ask.pk == stored.pk and ask.state == DecisionRequest.State.ASKED
    assert ask.lead.tracking_id == stored.lead.tracking_id
    assert (ask.lead.document_number, ask.lead.full_name, ask.lead.email) == (
        CONSUMER_IDENTITY["document_number"], CONSUMER_IDENTITY["full_name"], "ana.perez@example.com")
    assert ask.lead.monthly_income == CONSUMER_IDENTITY["monthly_income"]
    assert ask.product.product_id == stored.product.product_id
    assert ask.listing.listing_id == stored.listing.listing_id


@pytest.mark.django_db
def test_no_ask_is_found_for_another_lender_or_a_journey_not_in_compare_mode():
    stored = compare_ask()
    with transaction.atomic():
        assert compare_ask_locked(lead_id=stored.lead_id, lender_id=LenderFactory().pk) is None
        type(stored.lead).objects.filter(pk=stored.lead_id).update(compare_mode=False)
        assert compare_ask_locked(lead_id=stored.lead_id, lender_id=stored.lender_id) is None


@pytest.mark.django_db(transaction=True)
def test_the_ask_stays_locked_until_the_claiming_transaction_ends():
    stored = compare_ask()
    refused = []

    def try_to_lock():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM leads_decisionrequest WHERE id = %s FOR UPDATE NOWAIT", [stored.pk])
        except OperationalError:
            refused.append(True)
        finally:
            connections.close_all()

    with transaction.atomic():
        compare_ask_locked(lead_id=stored.lead_id, lender_id=stored.lender_id)
        other = threading.Thread(target=try_to_lock)
        other.start()
        other.join()
    assert refused == [True]
    try_to_lock()  # once committed, the row is free again
    assert refused == [True]


@pytest.mark.django_db
def test_the_decision_outcome_is_none_until_one_is_stored():
    stored = compare_ask()
    assert decision_outcome(lead_id=stored.lead_id, lender_id=stored.lender_id) is None
    Decision.objects.create(lead=stored.lead, lender=stored.lender, outcome=Decision.Outcome.PENDING)
    assert decision_outcome(lead_id=stored.lead_id, lender_id=stored.lender_id) == "pending"


@pytest.mark.django_db
def test_earlier_calls_are_listed_with_their_outcome_and_aware_start_time():
    stored = compare_ask()
    scope = {"lead_id": stored.lead_id, "lender_id": stored.lender_id, "capability": "prequalify"}
    assert lender_calls_earlier(**scope) == []
    started = timezone.now()
    call = LenderCall.objects.create(lender=stored.lender, lead=stored.lead, capability="prequalify", attempt=1,
                                     started_at=started, idempotency_key="k")
    LenderCall.objects.create(lender=stored.lender, lead=stored.lead, capability="submit", attempt=1,
                              started_at=started, idempotency_key="k")
    assert lender_calls_earlier(**scope) == [(call.pk, LenderCall.Outcome.IN_FLIGHT, started)]


@pytest.mark.django_db(transaction=True)
def test_the_lead_is_read_locked_with_its_latest_status():
    lead = LeadFactory(compare_mode=True, lender=None, listing=None, product=None, status=LeadStatus.AWAITING_DECISION,
                       lender_reference="REF-9")
    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            locked = lead_locked(lead_id=lead.pk)
            assert (locked.status, locked.compare_mode, locked.lender_reference) == (
                LeadStatus.AWAITING_DECISION, True, "REF-9")
            with pytest.raises(OperationalError), other.cursor() as cursor:
                cursor.execute("SELECT id FROM leads_lead WHERE id = %s FOR UPDATE NOWAIT", [lead.pk])
    finally:
        other.close()
    with pytest.raises(Lead.DoesNotExist):
        lead_locked(lead_id=0)


@pytest.mark.django_db
def test_an_approval_with_offers_moves_the_journey_to_offered_with_its_event_in_one_statement():
    lead = LeadFactory(compare_mode=True, lender=None, listing=None, product=None, status=LeadStatus.DECISION_PENDING)
    locked = lead_locked(lead_id=lead.pk)

    with CaptureQueriesContext(connection) as queries:
        lead_offered_with_event(locked, message="sbx-1: approved")

    assert len(queries) == 1
    lead.refresh_from_db()
    assert lead.status == LeadStatus.OFFERED and lead.decided_at == locked.decided_at
    event = LeadEvent.objects.get(lead=lead)
    assert (event.kind, event.status, event.message) == (LeadEvent.Kind.DECISION, LeadStatus.OFFERED, "sbx-1: approved")
