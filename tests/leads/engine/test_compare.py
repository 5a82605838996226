"""Compare mode: one journey asks many lenders at once; each decision is stored as it arrives and
the journey's status follows all of them (apps.lenders.compare_status)."""

from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.campaigns.catalog import CatalogEntry
from apps.leads import services as lead_services
from apps.leads.engine.attempt import lender_prequalify_attempt
from apps.leads.engine.results import decision_fail, decision_record
from apps.leads.models import Decision, DecisionRequest, Lead, LeadStatus
from apps.leads.selectors import compare_offers, decision_requests_due, pending_decisions_due
from apps.lenders.adapters.base import Decision as Outcome
from apps.lenders.adapters.base import DecisionResult, Offer
from apps.lenders.models import CircuitState
from tests.factories import CONSUMER_IDENTITY, LeadFactory, LenderFactory, ListingFactory, publish

OFFER = Offer(lender_offer_id="OF-1", amount=Decimal("1000000"), term_months=12, monthly_payment=Decimal("95000"),
              annual_rate=Decimal("0.25"), url="https://lender.example/offer/1")


def catalog(count, **lender_fields):
    entries = []
    for _ in range(count):
        listing = ListingFactory(product__lender=LenderFactory(**lender_fields))
        entries.append(CatalogEntry(listing=listing, campaign=publish(listing=listing, origin=listing_origin())))
    return entries


_origin = {}


def listing_origin():
    from tests.factories import OriginFactory

    if "o" not in _origin or not type(_origin["o"]).objects.filter(pk=_origin["o"].pk).exists():
        _origin["o"] = OriginFactory()
    return _origin["o"]


def compare_lead():
    # The origin the catalog's campaigns publish to: a campaign delivers only to its origins.
    return LeadFactory(compare_mode=True, lender=None, listing=None, product=None, status=LeadStatus.NEW,
                       origin=listing_origin(), **CONSUMER_IDENTITY)


def status(lead):
    return Lead.objects.get(pk=lead.pk).status


def record(lead, entry, decision, offers=()):
    return decision_record(lead_id=lead.pk, lender_id=entry.campaign.lender_id,
                                         result=DecisionResult(decision=decision, offers=offers, reason="r"))


def fail(lead, entry):
    DecisionRequest.objects.filter(lead=lead, lender_id=entry.campaign.lender_id).update(state="failed")
    decision_fail(lead_id=lead.pk, lender_id=entry.campaign.lender_id, message="No usable answer")


@pytest.fixture
def three(db):
    entries = catalog(3)
    lead = compare_lead()
    asked = lead_services.journey_compare_request(lead=lead, entries=entries)
    assert sorted(asked) == sorted(entry.campaign.lender_id for entry in entries)
    return lead, entries


def test_asking_puts_the_journey_in_awaiting_decision_with_one_ask_per_lender(three):
    lead, entries = three
    assert status(lead) == LeadStatus.AWAITING_DECISION and Lead.objects.get(pk=lead.pk).lender_id is None
    assert DecisionRequest.objects.filter(lead=lead, state="asked").count() == 3
    assert lead_services.journey_compare_request(lead=Lead.objects.get(pk=lead.pk), entries=entries) == []


def test_lenders_with_an_open_circuit_or_inactive_are_not_asked(db):
    entries = catalog(1) + catalog(1, circuit_state=CircuitState.OPEN) + catalog(1, is_active=False)
    lead = compare_lead()
    assert lead_services.journey_compare_request(lead=lead, entries=entries) == [entries[0].campaign.lender_id]


def test_with_no_lender_to_ask_the_journey_fails_for_try_again(db):
    lead = compare_lead()
    assert lead_services.journey_compare_request(lead=lead, entries=catalog(1, circuit_state=CircuitState.OPEN)) == []
    assert status(lead) == LeadStatus.DECISION_FAILED


def test_the_first_approval_with_offers_shows_offers_while_others_still_decide(three):
    lead, entries = three
    record(lead, entries[0], Outcome.REJECTED)
    assert status(lead) == LeadStatus.DECISION_PENDING
    record(lead, entries[1], Outcome.APPROVED, (OFFER,))
    assert status(lead) == LeadStatus.OFFERED
    record(lead, entries[2], Outcome.REJECTED)  # a later answer is stored, the status stays
    assert status(lead) == LeadStatus.OFFERED and Decision.objects.filter(lead=lead).count() == 3


def test_pending_answers_keep_the_journey_pending(three):
    lead, entries = three
    record(lead, entries[0], Outcome.PENDING)
    record(lead, entries[1], Outcome.REJECTED)
    fail(lead, entries[2])
    assert status(lead) == LeadStatus.DECISION_PENDING
    record(lead, entries[0], Outcome.APPROVED, (OFFER,))  # the pending one resolves in place
    assert status(lead) == LeadStatus.OFFERED and Decision.objects.filter(lead=lead).count() == 2


def test_not_eligible_only_when_every_lender_rejected(three):
    lead, entries = three
    for entry in entries[:2]:
        record(lead, entry, Outcome.REJECTED)
        assert status(lead) == LeadStatus.DECISION_PENDING
    record(lead, entries[2], Outcome.APPROVED)  # approved without offers counts as a rejection
    assert status(lead) == LeadStatus.NOT_ELIGIBLE


def test_decision_failed_when_every_lender_failed_and_try_again_asks_only_those_again(three):
    lead, entries = three
    for entry in entries:
        fail(lead, entry)
    assert status(lead) == LeadStatus.DECISION_FAILED
    assert lead_services.journey_retry(lead=Lead.objects.get(pk=lead.pk))
    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=None)  # what journey_retry enqueued
    assert outcome.detail == "asked 3 lenders again"
    assert DecisionRequest.objects.filter(lead=lead, state="asked").count() == 3


def test_a_failure_among_rejections_is_try_again_never_not_eligible(three):
    lead, entries = three
    record(lead, entries[0], Outcome.REJECTED)
    record(lead, entries[1], Outcome.REJECTED)
    fail(lead, entries[2])
    assert status(lead) == LeadStatus.DECISION_FAILED


def test_a_late_approval_after_the_journey_failed_shows_its_offers(three):
    lead, entries = three
    for entry in entries:
        fail(lead, entry)
    record(lead, entries[1], Outcome.APPROVED, (OFFER,))
    assert status(lead) == LeadStatus.OFFERED


def test_choosing_an_offer_sets_the_journeys_lender_and_catalog_entry(three):

    lead, entries = three
    record(lead, entries[1], Outcome.APPROVED, (OFFER,))
    record(lead, entries[2], Outcome.APPROVED, (replace(OFFER, monthly_payment=Decimal("90000")),))
    assert [o.decision.lender_id for o in compare_offers(lead=lead)] == [entries[2].campaign.lender_id,
                                                                         entries[1].campaign.lender_id]
    lead = Lead.objects.get(pk=lead.pk)
    offer = Decision.objects.get(lead=lead, lender_id=entries[1].campaign.lender_id).offers.get()
    assert lead_services.journey_offer_choose(lead=lead, offer_id=offer.pk)
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.lender_id, lead.campaign_id, lead.listing_id, lead.chosen_offer_id) == (
        entries[1].campaign.lender_id, entries[1].campaign.pk, entries[1].listing.pk, offer.pk)


def test_a_single_lender_journey_is_unchanged(db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.AWAITING_DECISION,
                       identity_at=timezone.now(), **CONSUMER_IDENTITY)
    decision_record(lead_id=lead.pk, lender_id=lender.pk, result=DecisionResult(decision=Outcome.REJECTED))
    assert status(lead) == LeadStatus.NOT_ELIGIBLE


def test_the_sweep_finds_asks_and_pending_decisions_whose_task_was_lost(three):
    from datetime import timedelta


    lead, entries = three
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.DECISION_PENDING)
    record(lead, entries[0], Outcome.PENDING)
    record(lead, entries[1], Outcome.REJECTED)
    long_ago = timezone.now() - timedelta(minutes=10)
    DecisionRequest.objects.filter(lead=lead).update(updated_at=long_ago)
    Decision.objects.filter(lead=lead).update(updated_at=long_ago)
    stale_before = timezone.now() - timedelta(minutes=5)
    assert decision_requests_due(stale_before=stale_before, limit=10) == [(lead.pk, entries[2].campaign.lender_id)]
    assert pending_decisions_due(stale_before=stale_before, limit=10) == [(lead.pk, entries[0].campaign.lender_id)]


def test_compare_mode_charges_each_lenders_campaign_and_skips_one_that_cannot_take_the_lead(db):
    from apps.campaigns.models import LedgerEntry

    entries = catalog(3)
    capped = entries[1].campaign
    capped.total_lead_cap = 0
    capped.save(update_fields=["total_lead_cap"])
    lead = compare_lead()

    asked = lead_services.journey_compare_request(lead=lead, entries=entries)

    assert sorted(asked) == sorted([entries[0].campaign.lender_id, entries[2].campaign.lender_id])
    charged = LedgerEntry.objects.filter(lead=lead, kind=LedgerEntry.Kind.LEAD)
    assert sorted(charged.values_list("campaign_id", flat=True)) == sorted([entries[0].campaign.pk, entries[2].campaign.pk])


def test_asking_again_after_a_failure_does_not_charge_a_delivery_twice(three):
    from apps.campaigns.models import LedgerEntry

    lead, entries = three
    for entry in entries:
        fail(lead, entry)

    lead_services.journey_compare_request(lead=Lead.objects.get(pk=lead.pk), entries=entries)

    assert LedgerEntry.objects.filter(lead=lead, kind=LedgerEntry.Kind.LEAD).count() == 3


def test_each_lender_call_of_a_fan_out_stays_within_a_dozen_statements(live_server, transactional_db,
                                                                       broker_isolation, django_assert_max_num_queries):
    """The claim (lender, ask with its journey, stored decision, earlier attempts, the new call
    row), the call's completion, and recording the answer (decision, offers, the lead's lock,
    its status, its event): a hundred of these share the worker's one process in a fan-out.
    Twelve statements, plus the BEGIN and COMMIT of the claim's and the record's transactions."""
    from apps.leads.models import LeadEvent
    from tests.factories import OriginFactory, sandbox_lender

    origin = OriginFactory()
    entries = []
    for _ in range(3):
        listing = ListingFactory(product__lender=sandbox_lender(server_url=live_server.url))
        entries.append(CatalogEntry(listing=listing, campaign=publish(listing=listing, origin=origin)))
    lead = LeadFactory(origin=origin, compare_mode=True, lender=None, listing=None, product=None, **CONSUMER_IDENTITY)
    asked = lead_services.journey_compare_request(lead=lead, entries=entries)

    for lender_id in asked:
        with django_assert_max_num_queries(12 + 4):
            assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=lender_id).action == "recorded"
        # A redelivered task finds the answer stored: no call, no second decision.
        assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=lender_id).action == "skipped"

    assert Decision.objects.filter(lead=lead).count() == 3
    assert status(lead) == LeadStatus.OFFERED
    codes = {entry.campaign.lender.code for entry in entries}
    messages = LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.DECISION).values_list("message", flat=True)
    assert {message.split(":")[0] for message in messages} == codes
