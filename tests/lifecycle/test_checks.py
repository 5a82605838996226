from apps.lifecycle.checks import retention_settings_check


def test_retention_settings_as_shipped_pass_the_check():
    assert retention_settings_check(None) == []


def test_a_negative_retention_a_zero_batch_or_an_hour_past_23_is_an_error(settings):
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "lender_call_bodies": -1}
    settings.RETENTION_BATCH_SIZE = 0
    settings.RETENTION_PURGE_HOUR = 24

    assert {error.id for error in retention_settings_check(None)} == {"lifecycle.E001", "lifecycle.E002",
                                                                       "lifecycle.E003"}
