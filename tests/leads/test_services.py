from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.leads import services
from apps.leads.engine.results import decision_fail, decision_record, submission_record
from apps.leads.models import Decision, Lead, LeadEvent, LeadStatus, Submission
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from tests.factories import LeadFactory, ListingFactory, OriginFactory, publish
from tests.support import postback_apply

IDENTITY = services.IdentityData(document_type="CC", document_number="1020304050", full_name="Ana Pérez",
                                 monthly_income=3_500_000)


def _approved(*offer_ids: str) -> DecisionResult:
    return DecisionResult(
        decision=DecisionKind.APPROVED,
        offers=tuple(Offer(lender_offer_id=o, amount=Decimal("5000000"), term_months=24,
                           monthly_payment=Decimal("265000"), annual_rate=Decimal("0.28"),
                           url=f"https://lender.example/offer/{o}") for o in offer_ids),
    )


# --- The hand-off URL (DESIGN.md §6) ---------------------------------------------------------

def test_handoff_adds_click_id_product_id_and_listing_id():
    url = services.handoff_url_build("https://portal.example/sign?ref=APP-1", click_id="movilco_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e",
                                     product_id="ln_personal_01", listing_id="lst_abc")

    query = parse_qs(urlsplit(url).query)
    assert query == {"ref": ["APP-1"], "click_id": ["movilco_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e"],
                     "product_id": ["ln_personal_01"], "listing_id": ["lst_abc"]}


def test_handoff_leaves_existing_parameters_exactly_as_they_are_and_does_not_override_them():
    redirect = "https://portal.example/sign?ref=A%2FB+C&click_id=lender-own&empty=&x=1&x=2#frag"

    url = services.handoff_url_build(redirect, click_id="abc", product_id="ln_personal_01", listing_id="lst_1")

    assert url == "https://portal.example/sign?ref=A%2FB+C&click_id=lender-own&empty=&x=1&x=2" \
                  "&product_id=ln_personal_01&listing_id=lst_1#frag"


@pytest.mark.parametrize("click_id", ["a+b c&d=e%20f/é_ü", "claro_7E1C9F24-3b8a", " padded "])
def test_handoff_encodes_the_click_id_so_the_lender_reads_back_the_same_bytes(click_id):
    url = services.handoff_url_build("https://portal.example/apply", click_id=click_id, product_id="p", listing_id="l")

    assert parse_qs(urlsplit(url).query, keep_blank_values=True)["click_id"] == [click_id]


# --- The journey is idempotent ----------------------------------------------------------------

@pytest.mark.django_db
def test_journey_start_mints_the_tracking_id_and_records_the_start():
    origin = OriginFactory(code="movilco", prefix_tracking_ids=True)
    listing = ListingFactory()
    campaign = publish(listing=listing, origin=origin)

    lead = services.journey_start(origin=origin, listing=listing, campaign=campaign)

    assert lead.tracking_id.startswith("movilco_")
    assert (lead.lender, lead.product, lead.status) == (campaign.lender, listing.product, LeadStatus.NEW)
    assert list(lead.events.values_list("kind", flat=True)) == [LeadEvent.Kind.STARTED]


@pytest.mark.django_db
def test_identity_submitted_twice_asks_the_lender_once(django_capture_on_commit_callbacks):
    lead = LeadFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        first = services.journey_identity_submit(lead=lead, identity=IDENTITY)
        second = services.journey_identity_submit(lead=Lead.objects.get(pk=lead.pk), identity=IDENTITY)

    assert (first, second) == (True, False)
    assert len(callbacks) == 1
    assert lead.events.filter(kind=LeadEvent.Kind.IDENTITY).count() == 1
    assert Lead.objects.get(pk=lead.pk).document_number == "1020304050"


@pytest.mark.django_db
def test_the_first_stored_decision_wins_and_a_second_is_never_stored():
    lead = LeadFactory(status=LeadStatus.AWAITING_DECISION)

    first = decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=_approved("OF-1", "OF-2"))
    again = decision_record(lead_id=lead.pk, lender_id=lead.lender_id,
                                     result=DecisionResult(decision=DecisionKind.REJECTED, reason="late"))

    assert again.pk == first.pk
    assert Decision.objects.filter(lead=lead).count() == 1
    assert first.offers.count() == 2
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.OFFERED


@pytest.mark.django_db
def test_a_rejection_makes_the_lead_not_eligible():
    lead = LeadFactory(status=LeadStatus.AWAITING_DECISION)

    decision_record(lead_id=lead.pk, lender_id=lead.lender_id,
                             result=DecisionResult(decision=DecisionKind.REJECTED, reason="consumer_not_eligible"))

    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NOT_ELIGIBLE


@pytest.mark.django_db
def test_retry_after_a_technical_failure_reenqueues_with_the_same_tracking_id(django_capture_on_commit_callbacks):
    lead = LeadFactory(status=LeadStatus.AWAITING_DECISION)
    decision_fail(lead_id=lead.pk, message="timeout")
    lead.refresh_from_db()

    with django_capture_on_commit_callbacks() as callbacks:
        assert services.journey_retry(lead=lead) is True
        assert services.journey_retry(lead=Lead.objects.get(pk=lead.pk)) is False

    assert len(callbacks) == 1
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.AWAITING_DECISION


@pytest.mark.django_db
def test_an_offer_of_another_journey_cannot_be_chosen():
    lead = LeadFactory(status=LeadStatus.AWAITING_DECISION)
    other = LeadFactory(status=LeadStatus.AWAITING_DECISION)
    decision_record(lead_id=other.pk, lender_id=other.lender_id, result=_approved("OF-X"))
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=_approved("OF-1"))
    lead.refresh_from_db()

    with pytest.raises(services.JourneyError):
        services.journey_offer_choose(lead=lead, offer_id=Decision.objects.get(lead=other).offers.get().pk)


@pytest.mark.django_db
def test_the_first_submission_wins_and_hand_off_is_marked_once():
    lead = LeadFactory(status=LeadStatus.SUBMITTING)

    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted", redirect_url="https://l.example/a"))
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="submitted", redirect_url="https://l.example/b"))
    lead.refresh_from_db()
    first_url = services.journey_handoff(lead=lead)
    second_url = services.journey_handoff(lead=Lead.objects.get(pk=lead.pk))

    assert Submission.objects.get(lead=lead).redirect_url == "https://l.example/a"
    assert first_url == second_url
    assert first_url.startswith("https://l.example/a?click_id=")
    assert lead.events.filter(kind=LeadEvent.Kind.HANDED_OFF).count() == 1
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.HANDED_OFF


@pytest.mark.django_db
def test_hand_off_before_submission_is_refused():
    lead = LeadFactory(status=LeadStatus.OFFERED)

    with pytest.raises(services.JourneyError):
        services.journey_handoff(lead=lead)


# --- The postback transition table (DESIGN.md §5) ----------------------------------------------


@pytest.mark.django_db
def test_events_arriving_out_of_order_never_move_a_lead_backwards():
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)
    now = timezone.now()

    assert postback_apply(lead, LeadStatus.DISBURSED, occurred_at=now) == "applied"
    assert postback_apply(lead, LeadStatus.APPROVED, occurred_at=now - timedelta(hours=1)) == "no_change"

    lead.refresh_from_db()
    assert lead.status == LeadStatus.DISBURSED
    assert not lead.needs_review


@pytest.mark.django_db
def test_a_contradicting_event_is_kept_on_the_timeline_and_flags_the_lead():
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)
    postback_apply(lead, LeadStatus.REJECTED, occurred_at=timezone.now())

    effect = postback_apply(lead, LeadStatus.DISBURSED, occurred_at=timezone.now())

    lead.refresh_from_db()
    assert effect == "contradicts"
    assert (lead.status, lead.needs_review) == (LeadStatus.REJECTED, True)
    assert list(lead.postbacks.order_by("id").values_list("effect", flat=True)) == ["applied", "contradicts"]


@pytest.mark.django_db
def test_an_older_event_that_moves_the_lead_up_does_not_turn_its_clock_back():
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)
    ten = timezone.now()
    postback_apply(lead, LeadStatus.PRE_APPROVED, occurred_at=ten)
    postback_apply(lead, LeadStatus.APPROVED, occurred_at=ten - timedelta(hours=1))

    effect = postback_apply(lead, LeadStatus.REJECTED, occurred_at=ten - timedelta(minutes=30))

    lead.refresh_from_db()
    assert (effect, lead.status, lead.lender_status_at) == ("contradicts", LeadStatus.APPROVED, ten)


@pytest.mark.django_db
def test_hand_off_without_a_lender_address_is_refused_instead_of_looping_on_our_pages():
    lead = LeadFactory(status=LeadStatus.SUBMITTED, redirect_url="")

    with pytest.raises(services.JourneyError):
        services.journey_handoff(lead=lead)
