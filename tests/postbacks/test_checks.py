from apps.postbacks.checks import postback_nonce_retention_check


def test_a_nonce_retention_shorter_than_twice_the_tolerance_is_a_configuration_error(settings):
    settings.POSTBACK_NONCE_RETENTION_SECONDS = settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS
    assert [error.id for error in postback_nonce_retention_check(None)] == ["postbacks.E001"]


def test_the_default_nonce_retention_passes_the_check():
    assert postback_nonce_retention_check(None) == []
