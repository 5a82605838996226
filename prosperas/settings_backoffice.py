"""The back office's settings (apps/backoffice, apps/leads/reveals.py), read from the environment
by prosperas/settings.py, which stays under 500 lines this way. Each is listed in README."""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured


def backoffice_settings(env: environ.Env) -> dict:
    values = _read(env)
    for name, value in values.items():
        if isinstance(value, int | float) and value <= 0:
            raise ImproperlyConfigured(f"{name} must be greater than zero, not {value}.")
    if not 0 < values["ALERT_LENDER_FAILURE_PERCENT"] <= 100:
        raise ImproperlyConfigured("ALERT_LENDER_FAILURE_PERCENT must be between 1 and 100.")
    return values


def _read(env: environ.Env) -> dict:
    return {
        # How long a staff user sees a lead's personal data unmasked after asking, with a reason.
        "PERSONAL_DATA_REVEAL_MINUTES": env.int("PERSONAL_DATA_REVEAL_MINUTES", default=15),
        # A bulk retry's task retries this many leads, then enqueues itself for the next batch.
        "BULK_RETRY_BATCH_SIZE": env.int("BULK_RETRY_BATCH_SIZE", default=100),
        # Alerts (apps/backoffice/alerts.py), evaluated by a periodic task.
        "ALERT_EVALUATE_INTERVAL_SECONDS": env.float("ALERT_EVALUATE_INTERVAL_SECONDS", default=300.0),
        "ALERT_APPROVED_NOT_DISBURSED_DAYS": env.int("ALERT_APPROVED_NOT_DISBURSED_DAYS", default=7),
        # Per lender, by code: ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER=banco-a=3,banco-b=14
        "ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER": {
            code: int(days)
            for code, days in env.dict("ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER", default={}).items()
        },
        "ALERT_PENDING_DECISION_HOURS": env.int("ALERT_PENDING_DECISION_HOURS", default=24),
        "ALERT_HANDOFF_NO_POSTBACK_DAYS": env.int("ALERT_HANDOFF_NO_POSTBACK_DAYS", default=3),
        # A lender failing: this share of technical failures among at least MIN_CALLS calls in the window.
        "ALERT_LENDER_WINDOW_MINUTES": env.int("ALERT_LENDER_WINDOW_MINUTES", default=60),
        "ALERT_LENDER_FAILURE_PERCENT": env.int("ALERT_LENDER_FAILURE_PERCENT", default=50),
        "ALERT_LENDER_MIN_CALLS": env.int("ALERT_LENDER_MIN_CALLS", default=10),
        # A lender silent: no postback in this many hours though at least MIN_HANDOFFS leads were
        # handed off to it in that time.
        "ALERT_LENDER_SILENT_HOURS": env.int("ALERT_LENDER_SILENT_HOURS", default=24),
        "ALERT_LENDER_SILENT_MIN_HANDOFFS": env.int("ALERT_LENDER_SILENT_MIN_HANDOFFS", default=5),
    }
