"""System checks for configuration that can be wrong (run by `manage.py check` and at startup)."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_field_encryption_keys(app_configs, **kwargs):
    errors = []
    for index, key in enumerate(settings.FIELD_ENCRYPTION_KEYS):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(Error(
                f"FIELD_ENCRYPTION_KEYS entry {index + 1} is not a Fernet key.",
                hint='Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"',
                id="prosperas.E001",
            ))
    if not settings.FIELD_ENCRYPTION_KEYS and not (settings.DEBUG or settings.TESTING):
        errors.append(Error("FIELD_ENCRYPTION_KEYS is empty outside DEBUG.", id="prosperas.E002"))
    return errors


@register(Tags.security)
def check_sandbox_in_production(app_configs, **kwargs):
    if settings.SANDBOX_ENABLED and not (settings.DEBUG or settings.TESTING):
        return [Warning(
            "SANDBOX_ENABLED is on outside DEBUG: simulated lenders are served by this site.",
            hint="Turn it off in production (SANDBOX_ENABLED=false).", id="prosperas.W001",
        )]
    return []


@register(Tags.security, deploy=True)
def check_staff_second_factor(app_configs, **kwargs):
    if not settings.STAFF_OTP_REQUIRED and not settings.DEBUG:
        return [Warning(
            "STAFF_OTP_REQUIRED is off outside DEBUG: staff sign in to admin with a password alone.",
            hint="Leave it on in production; give each staff user a device with `manage.py staff_totp <username>`.",
            id="prosperas.W002",
        )]
    return []


@register()
def check_lender_rate_limits(app_configs, **kwargs):
    """LENDER_RATE_LIMIT_PER_* must read as rates: a typo would otherwise surface as a 500 on every
    lender request."""
    from prosperas.inbound.limits import rate_parse  # imports the cache machinery: only when checking

    errors = []
    for scope, rate in settings.LENDER_RATE_LIMITS.items():
        try:
            rate_parse(rate)
        except ValueError as exc:
            errors.append(Error(f"LENDER_RATE_LIMIT_PER_{scope.upper()}: {exc}", id="prosperas.E010"))
    return errors


@register(Tags.security)
def check_email_backend_in_production(app_configs, **kwargs):
    """Backends that keep or print consumer emails instead of sending them are for DEBUG only."""
    unsent = {
        settings.OUTBOX_EMAIL_BACKEND: "keeps emails in the database (the demo's outbox)",
        "django.core.mail.backends.console.EmailBackend": "prints emails, consumers' addresses included, into the log",
    }
    what = unsent.get(settings.EMAIL_BACKEND)
    if what and not (settings.DEBUG or settings.TESTING):
        return [Warning(
            f"EMAIL_BACKEND {what} outside DEBUG: consumers get no email.",
            hint="Set EMAIL_BACKEND to the SMTP backend (the default) or your provider's.", id="prosperas.W003",
        )]
    return []


@register(Tags.security, deploy=True)
def check_metrics_configuration(app_configs, **kwargs):
    """/metrics must add up every process of a node, and must answer someone (prosperas/metrics.py)."""
    if settings.DEBUG or settings.TESTING:
        return []
    warnings = []
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        warnings.append(Warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: /metrics shows only the process that answers the scrape.",
            hint="Give every process of a node (gunicorn, the worker, beat) the same empty folder, e.g. a tmpfs.",
            id="prosperas.W004",
        ))
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        warnings.append(Warning(
            "Neither METRICS_TOKEN nor METRICS_ALLOWED_NETWORKS is set: /metrics refuses every scrape.",
            hint="Set METRICS_TOKEN (Prometheus' bearer_token) or the scrapers' networks.", id="prosperas.W005",
        ))
    return warnings


@register()
def check_resume_link_hours(app_configs, **kwargs):
    """The result email's one-time link (apps/leads/resume_links.py) must live long enough to be
    opened: at 0 every link would be dead when the email arrives."""
    if settings.FLOW_RESUME_LINK_HOURS < 1:
        return [Error(
            f"FLOW_RESUME_LINK_HOURS is {settings.FLOW_RESUME_LINK_HOURS}: the result email's link would be dead "
            "on arrival.", hint="Set it to a number of hours of at least 1 (72 by default).", id="prosperas.E011",
        )]
    return []
