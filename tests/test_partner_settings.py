"""The onboarding settings read from the environment (prosperas/partner_settings.py)."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from prosperas.partner_settings import partner_settings


def test_egress_addresses_are_read_per_environment_and_validated(monkeypatch):
    monkeypatch.setenv("EGRESS_IPS_STAGING", "203.0.113.10,2001:db8::1")
    monkeypatch.delenv("EGRESS_IPS_PRODUCTION", raising=False)
    assert partner_settings(environ.Env())["EGRESS_IPS"] == {"staging": ["203.0.113.10", "2001:db8::1"],
                                                             "production": []}
    monkeypatch.setenv("EGRESS_IPS_PRODUCTION", "203.0.113.0/24")
    with pytest.raises(ImproperlyConfigured, match="EGRESS_IPS_PRODUCTION"):
        partner_settings(environ.Env())
