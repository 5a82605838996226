"""The call statistics' rollup (apps/lenders/call_spans.py) and its latency buckets: a week read
from the hourly and daily spans, plus the calls outside them, counts what the calls themselves
count, and its percentiles are within the buckets' 2 % of the exact ones."""

import random
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.lenders import selectors
from apps.lenders.call_spans import lender_call_spans_mark, lender_call_spans_rebuild, lender_call_spans_refresh
from apps.lenders.latency import LatencyBucket, bucket_of, bucket_value, histogram_percentile
from apps.lenders.models import LenderCall, LenderCallSpan, LenderCallSpanMark
from tests.factories import LeadFactory, LenderFactory


def test_the_buckets_agree_in_sql_and_python_and_split_exactly_at_the_target(db):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g, {LatencyBucket.template % {'expressions': 'g'}}"
                       " FROM generate_series(0, 400000, 7) AS g")
        rows = cursor.fetchall()
        cursor.execute(f"SELECT {LatencyBucket.template % {'expressions': 'NULL::integer'}}")
        assert cursor.fetchone() == (None,)  # a call with no duration is in no bucket
    assert all(bucket == bucket_of(value) for value, bucket in rows)
    assert bucket_of(5000) + 1 == bucket_of(5001)
    assert bucket_value(bucket_of(5000)) <= selectors.LATENCY_TARGET_MS < bucket_value(bucket_of(5001))
    assert all(abs(bucket_value(bucket_of(value)) - value) <= 0.023 * value for value in range(1, 300_000, 13))
    assert histogram_percentile([0] * 5, 0.95) is None
    assert histogram_percentile([0, 3, 1], 0.5) == 1 and histogram_percentile([0, 3, 1], 0.95) == 2


def _calls(lender, lead, count: int, *, since, until, seed: int) -> None:
    """`count` calls started between `since` and `until`: mostly answers of 80 ms to 9 s, some
    failures, some with no duration, some still in flight."""
    chance = random.Random(seed)
    span = (until - since).total_seconds()
    outcomes = ["approved"] * 6 + ["rejected"] * 3 + ["technical_failure", "permanent_failure", "in_flight"]
    LenderCall.objects.bulk_create(
        LenderCall(lender=lender, lead=lead, capability=chance.choice(["prequalify", "submit", "poll"]), attempt=1,
                   idempotency_key="k", outcome=(outcome := chance.choice(outcomes)),
                   started_at=since + timedelta(seconds=chance.uniform(0, span)),
                   duration_ms=None if outcome == "in_flight" or chance.random() < 0.03
                   else int(chance.lognormvariate(6.5, 1.0)))
        for _ in range(count))


def _exact(since):
    """The statistics as the calls themselves give them (the rollup's mark taken away for the read)."""
    with transaction.atomic():
        LenderCallSpanMark.objects.all().delete()
        stats = selectors.lender_call_stats(since=since)
        transaction.set_rollback(True)
    return stats


def _spans() -> list[tuple]:
    return sorted(LenderCallSpan.objects.values_list("lender_id", "span", "start", "outcomes", "latency"), key=repr)


def test_a_week_read_from_the_spans_counts_what_the_calls_count(db):
    lenders = [LenderFactory(name="Banco A"), LenderFactory(name="Banco B")]
    leads = [LeadFactory(listing__product__lender=lender) for lender in lenders]
    now = timezone.now()
    for index, (lender, lead) in enumerate(zip(lenders, leads, strict=True)):
        _calls(lender, lead, 1500, since=now - timedelta(days=9), until=now - timedelta(hours=2), seed=index)
    LenderCall.objects.create(lender=lenders[0], lead=leads[0], capability="notify", attempt=1, idempotency_key="k",
                              outcome="approved", started_at=now - timedelta(days=1), duration_ms=1)  # not outbound

    assert lender_call_spans_refresh(now) >= 9
    assert lender_call_spans_mark() == now - timedelta(hours=1)
    # After the mark: the last hour's calls, read from the calls themselves.
    for index, (lender, lead) in enumerate(zip(lenders, leads, strict=True)):
        _calls(lender, lead, 40, since=now - timedelta(minutes=59), until=now, seed=10 + index)

    for window in (timedelta(days=7), timedelta(hours=24), timedelta(hours=7, minutes=30)):
        since = timezone.now() - window
        exact, rolled = _exact(since), selectors.lender_call_stats(since=since)
        for want, got in zip(exact, rolled, strict=True):
            assert (got.lender, got.calls, got.by_outcome) == (want.lender, want.calls, want.by_outcome)
            assert not want.approximate and got.approximate
            assert abs(got.p50_ms - want.p50_ms) <= 0.023 * want.p50_ms
            assert abs(got.p95_ms - want.p95_ms) <= 0.023 * want.p95_ms
            assert got.meets_target == want.meets_target

    # The spans are what is read: a change to one shows.
    day = LenderCallSpan.objects.filter(lender_id=lenders[0].pk, span="day").order_by("-start")[1]
    LenderCallSpan.objects.filter(pk=day.pk).update(outcomes={**day.outcomes, "approved": day.outcomes["approved"] + 7})
    week = timezone.now() - timedelta(days=7)
    assert selectors.lender_call_stats(since=week)[0].calls == _exact(week)[0].calls + 7
    LenderCallSpan.objects.filter(pk=day.pk).update(outcomes=day.outcomes)

    # A run with nothing new adds nothing; the days rebuilt from the calls give the same spans.
    added = _spans()
    assert lender_call_spans_refresh(now) == 0
    local = {timezone.localtime(now - timedelta(days=offset)).date() for offset in range(12)}
    lender_call_spans_rebuild(local)
    assert _spans() == added


def test_a_short_window_or_no_rollup_yet_is_ranked_exactly(db):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)
    now = timezone.now()
    _calls(lender, lead, 300, since=now - timedelta(days=2), until=now, seed=3)
    assert not selectors.lender_call_stats(since=now - timedelta(days=1))[0].approximate  # never ran

    lender_call_spans_refresh(now)

    assert not selectors.lender_call_stats(since=now - timedelta(hours=3))[0].approximate
    assert selectors.lender_call_stats(since=now - timedelta(hours=24))[0].approximate
