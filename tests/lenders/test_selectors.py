"""Reads for staff and the flow: rejection categories and sentences, call statistics, the
journey data adapters declare."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import override

from apps.lenders import selectors
from apps.lenders.models import LenderCall
from tests.factories import LeadFactory, LenderFactory


def test_a_lenders_words_are_placed_in_the_taxonomy():
    cases = {
        "MKTPL-100: Pre-existing customer.": "existing_customer",
        "The applicant does not meet the minimum age requirement.": "age",
        "Prosper does not conduct business in the state where the applicant resides.": "region",
        "insufficient_payment_capacity": "income",
        "Ingresos insuficientes": "income",
        "Required data missing": "incomplete_data",
        "consumer_not_eligible": "credit_policy",
        "Based on the information presented, we could not find any matching offers.": "credit_policy",
        "percentage mismatch": "other",
    }
    for text, category in cases.items():
        assert selectors.rejection_classify(text) == category, text


def test_each_category_has_a_consumer_safe_sentence_in_spanish_by_default():
    with override("es"):
        assert selectors.rejection_sentence("income").startswith("Con los ingresos")
        assert selectors.rejection_sentence("region") != selectors.rejection_sentence("age")
    assert selectors.rejection_sentence("nonsense") == selectors.rejection_sentence("other")
    for category in ("income", "age", "region", "existing_customer", "credit_policy", "incomplete_data", "other"):
        assert selectors.rejection_sentence(category)


def calls(lender, lead, durations, outcome="approved", minutes_ago=1):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    LenderCall.objects.bulk_create(
        LenderCall(lender=lender, lead=lead, capability="prequalify", attempt=1, idempotency_key="k", outcome=outcome,
                   started_at=started, finished_at=started, duration_ms=duration)
        for duration in durations
    )


def test_call_statistics_give_p50_p95_and_rates_by_outcome(db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    calls(lender, lead, range(100, 1900, 100))  # 18 answers of 100..1800 ms
    calls(lender, lead, [6000, 7000], outcome="technical_failure")
    calls(lender, lead, [50], minutes_ago=60 * 48)  # outside the window
    [stats] = selectors.lender_call_stats(since=timezone.now() - timedelta(hours=24), lender_ids=[lender.pk])
    assert (stats.calls, stats.p50_ms, stats.p95_ms) == (20, 1000, 6000)
    assert stats.meets_target is False and stats.rate("technical_failure") == 0.1 and stats.error_rate == 0.1


def test_call_statistics_count_a_call_without_a_duration_but_rank_only_the_timed(db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    calls(lender, lead, [300, 100, 200, None, None], outcome="technical_failure")
    [stats] = selectors.lender_call_stats(since=timezone.now() - timedelta(hours=24), lender_ids=[lender.pk])
    assert (stats.calls, stats.p50_ms, stats.p95_ms) == (5, selectors.percentile([100, 200, 300], 0.5), 300)
    [idle] = selectors.lender_call_stats(since=timezone.now(), lender_ids=[lender.pk])
    assert (idle.calls, idle.p50_ms, idle.p95_ms, idle.by_outcome) == (0, None, None, {})


def test_the_statistics_page_shows_latency_against_the_target(admin_client):
    lender = LenderFactory(name="Banco Lento")
    calls(lender, LeadFactory(listing__product__lender=lender), [7000, 8000])
    html = admin_client.get("/admin/lenders/lender/stats/").content.decode()
    assert "Banco Lento" in html and "missed" in html and "8000" in html
    assert "Calls 24 h" in admin_client.get("/admin/lenders/lender/").content.decode()


def test_the_journey_fields_of_several_lenders_are_asked_once():
    embedded, offers, async_lead = (LenderFactory.build(adapter=key) for key in ("embedded", "offers_api", "async_lead"))
    assert selectors.lender_required_fields(embedded) == ()
    assert selectors.lender_required_fields(embedded, capability="submit") == ("email", "phone")
    fields = selectors.journey_fields_for([embedded, offers, async_lead])
    assert list(fields).count("birth_date") == 1 and "employment_status" in fields and "address_line" in fields
