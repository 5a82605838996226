"""One validation path: postback_body_validate is the strict serializer, one instance per process.
Whatever the body, it answers exactly as a fresh serializer does: the same validated data, or
the same errors (which it refuses with, 400), so nothing of one call stays for the next."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.postbacks.serializers import PostbackInputSerializer, postback_body_validate
from prosperas.inbound.refusals import InboundRefused

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


def fresh_serializer_answer(body) -> tuple[bool, dict]:
    serializer = PostbackInputSerializer(data=body)
    valid = serializer.is_valid()
    return valid, dict(serializer.validated_data) if valid else serializer.errors


def shared_validator_answer(body) -> tuple[bool, dict]:
    try:
        return True, dict(postback_body_validate(body))
    except InboundRefused as refusal:
        assert (refusal.status, refusal.error) == (400, "validation_error")
        assert refusal.message == f"The postback has invalid fields: {', '.join(refusal.fields)}."
        return False, refusal.fields


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(bodies)
def test_the_shared_validator_answers_as_a_fresh_serializer(body):
    assert shared_validator_answer(body) == fresh_serializer_answer(body)


@pytest.mark.parametrize("body", [
    {"click_id": "movilco_9a0f", "status": "approved"},
    {"click_id": "movilco_9a0f", "status": "disbursed", "event_id": "evt-1", "amount": "1500000.00",
     "currency": "COP", "lender_reference": "APP-7"},
    {"click_id": "x", "status": "rejected", "reason": "", "occurred_at": "2026-06-03T12:00:00.5-05:00"},
    {"click_id": "x", "status": "approved", "metadata": {}},
    {"click_id": "x", "status": "approved", "product_id": "ln_personal_01"},
], ids=["minimal", "disbursement", "rejection", "metadata", "product_id"])
def test_plain_postbacks_get_the_serializers_result(body):
    serializer = PostbackInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert postback_body_validate(body) == dict(serializer.validated_data)


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"click_id": "x", "status": "approved", "amount": "10.00"}, "currency", "Required when amount is given."),
    ({"click_id": "x\x00", "status": "approved"}, "click_id", "Null characters are not allowed."),
    ({"click_id": "x", "status": "approved", "amount": "0.00", "currency": "COP"}, "amount",
     "Must be greater than zero."),
    ({"click_id": "x", "status": "approved", "colour": "blue"}, "colour",
     "Unknown field: the postback contract has no such field."),
], ids=["amount_alone", "nul", "zero_amount", "unknown"])
def test_errors_are_worded_by_the_serializer(body, field, message):
    with translation.override("en"):
        valid, errors = shared_validator_answer(body)
        assert not valid and message in errors[field]
        assert (valid, errors) == fresh_serializer_answer(body)


def test_each_language_gets_the_serializers_wording_in_that_language():
    body = {"click_id": "x" * 256, "status": "approved"}
    for language in ("es", "en", "es"):
        with translation.override(language):
            assert shared_validator_answer(body) == fresh_serializer_answer(body)


def test_an_occurred_at_too_far_ahead_is_refused():
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    valid, errors = shared_validator_answer({"click_id": "x", "status": "approved", "occurred_at": ahead})
    assert not valid and list(errors) == ["occurred_at"]


def test_amounts_stay_exact():
    plain = postback_body_validate({"click_id": "x", "status": "disbursed", "amount": "0001500000.10",
                                    "currency": "COP"})
    assert plain["amount"] == Decimal("1500000.10")
