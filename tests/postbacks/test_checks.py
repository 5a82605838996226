import pytest

from apps.postbacks.checks import postback_follow_up_interval_check, postback_nonce_retention_check


def test_a_nonce_retention_shorter_than_twice_the_tolerance_is_a_configuration_error(settings):
    settings.POSTBACK_NONCE_RETENTION_SECONDS = settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS
    assert [error.id for error in postback_nonce_retention_check(None)] == ["postbacks.E001"]


def test_the_default_nonce_retention_passes_the_check():
    assert postback_nonce_retention_check(None) == []


@pytest.mark.parametrize("interval", [0, -1, 61])
def test_a_follow_up_interval_outside_0_to_60_seconds_is_a_configuration_error(settings, interval):
    settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = interval
    assert [error.id for error in postback_follow_up_interval_check(None)] == ["postbacks.E002"]


def test_the_default_follow_up_interval_passes_the_check():
    assert postback_follow_up_interval_check(None) == []
