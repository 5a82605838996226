"""The plain-body fast path and the strict serializer agree: whatever the fast path accepts, the
serializer accepts with the same validated data; everything else is left to the serializer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.postbacks.serializers import PostbackInputSerializer, postback_plain_validate

FIELDS = ["click_id", "status", "event_id", "occurred_at", "amount", "currency", "reason", "lender_reference",
          "product_id", "metadata", "unknown"]
near_valid = st.sampled_from([
    "approved", "pre_approved", "rejected", "Approved", "1500000.00", "0.00", "0.01", "1.234", "0001", "1e5",
    "9" * 13, "COP", "cop", "CO", "2026-06-03T12:00:00-05:00", "2026-06-03T12:00:00", "2026-02-30T12:00:00Z",
    "9999-12-31T23:59:59-23:59", "", " ", "\x00", "a\x00b", "é" * 129, "x" * 256, "x" * 513, "evt-1",
    "movilco_9a0f", " movilco_9a0f ",
])
values = (near_valid | st.text(max_size=20) | st.integers() | st.none() | st.booleans()
          | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(bodies)
def test_whatever_the_fast_path_accepts_the_serializer_accepts_the_same(body):
    plain = postback_plain_validate(body)
    if plain is not None:
        serializer = PostbackInputSerializer(data=body)
        assert serializer.is_valid(), serializer.errors
        assert plain == dict(serializer.validated_data)


@pytest.mark.parametrize("body", [
    {"click_id": "movilco_9a0f", "status": "approved"},
    {"click_id": "movilco_9a0f", "status": "disbursed", "event_id": "evt-1", "amount": "1500000.00",
     "currency": "COP", "lender_reference": "APP-7"},
    {"click_id": "x", "status": "rejected", "reason": "", "occurred_at": "2026-06-03T12:00:00.5-05:00"},
], ids=["minimal", "disbursement", "rejection"])
def test_plain_postbacks_take_the_fast_path_with_the_serializers_result(body):
    serializer = PostbackInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert postback_plain_validate(body) == dict(serializer.validated_data)


@pytest.mark.parametrize("body", [
    {"click_id": "x", "status": "approved", "metadata": {}},  # the serializer checks metadata
    {"click_id": "x", "status": "approved", "product_id": "ln_personal_01"},
    {"click_id": "x", "status": "approved", "amount": "10.00"},  # currency missing: an error to word
    {"click_id": "x\x00", "status": "approved"},
    {"click_id": "x", "status": "approved", "amount": "0.00", "currency": "COP"},
], ids=["metadata", "product_id", "amount_alone", "nul", "zero_amount"])
def test_anything_unusual_is_left_to_the_serializer(body):
    assert postback_plain_validate(body) is None


def test_an_occurred_at_too_far_ahead_is_left_to_the_serializer():
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    assert postback_plain_validate({"click_id": "x", "status": "approved", "occurred_at": ahead}) is None


def test_the_fast_path_keeps_amounts_exact():
    plain = postback_plain_validate({"click_id": "x", "status": "disbursed", "amount": "0001500000.10",
                                     "currency": "COP"})
    assert plain["amount"] == Decimal("1500000.10")
