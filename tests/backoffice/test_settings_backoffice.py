"""The back office's settings: sane defaults, per-lender thresholds, nonsense refused at start."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from prosperas.settings_backoffice import backoffice_settings


def test_defaults_and_per_lender_days(monkeypatch):
    monkeypatch.setenv("ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER", "banco-a=3,banco-b=14")
    values = backoffice_settings(environ.Env())
    assert values["PERSONAL_DATA_REVEAL_MINUTES"] == 15 and values["ALERT_APPROVED_NOT_DISBURSED_DAYS"] == 7
    assert values["ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER"] == {"banco-a": 3, "banco-b": 14}


@pytest.mark.parametrize(("name", "value"), [("PERSONAL_DATA_REVEAL_MINUTES", "0"),
                                             ("BULK_RETRY_BATCH_SIZE", "-5"),
                                             ("ALERT_LENDER_FAILURE_PERCENT", "150")])
def test_nonsense_is_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        backoffice_settings(environ.Env())
