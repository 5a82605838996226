import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import LenderFactory


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [15, 20, 30])
def test_lender_timeouts_between_15_and_30_seconds_are_valid(seconds):
    lender = LenderFactory.build(timeout_seconds=seconds)
    lender.full_clean(exclude=["postback_key"])


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [0, 5, 14, 31, 120])
def test_lender_timeouts_outside_15_to_30_seconds_are_refused(seconds):
    lender = LenderFactory.build(timeout_seconds=seconds)
    with pytest.raises(ValidationError) as error:
        lender.full_clean()
    assert "timeout_seconds" in error.value.message_dict


@pytest.mark.django_db
def test_more_than_three_retries_is_refused():
    lender = LenderFactory.build(max_retries=4)
    with pytest.raises(ValidationError) as error:
        lender.full_clean()
    assert "max_retries" in error.value.message_dict


@pytest.mark.django_db
def test_the_database_itself_refuses_a_timeout_out_of_bounds():
    lender = LenderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(lender).objects.filter(pk=lender.pk).update(timeout_seconds=45)


@pytest.mark.django_db
def test_ip_allowlist_entries_must_be_ip_addresses():
    lender = LenderFactory.build(postback_ip_allowlist="10.0.0.1\nnot-an-ip")
    with pytest.raises(ValidationError) as error:
        lender.full_clean()
    assert "postback_ip_allowlist" in error.value.message_dict


@pytest.mark.django_db
def test_ip_allowlist_accepts_commas_and_lines():
    lender = LenderFactory.build(postback_ip_allowlist="127.0.0.1, ::1\n192.0.2.10")
    assert lender.ip_allowlist == ["127.0.0.1", "::1", "192.0.2.10"]
