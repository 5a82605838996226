"""What the audit log keeps (django-auditlog): every change staff can make to the marketplace's
configuration, with who, when, from where, and the values before and after.

Secrets are recorded as changed, never with their value (SECRET, below). The journey's own rows
(leads, decisions, lender calls, postback events) are not here: the engine writes them all day,
and each keeps its own timeline; what staff do to a journey is recorded as its own entries.
"""

from __future__ import annotations

from django.apps import apps

SECRET = "(secret, changed)"

# model label -> auditlog.register options
AUDITED: dict[str, dict] = {
    "origins.Origin": {"mask_fields": ["deep_link_secret"]},
    "lenders.Lender": {
        "mask_fields": ["credentials", "postback_secret", "postback_secret_previous"],
        # Moved by every call through the circuit breaker, not by staff.
        "exclude_fields": ["circuit_state", "circuit_changed_at", "circuit_note"],
    },
    "lenders.MappedApi": {},
    # Issued, rotated and revoked by staff or the lender's people; the last use is not a change.
    "lenders.LenderCredential": {"mask_fields": ["secret", "digest"], "exclude_fields": ["last_used_at"]},
    "lenders.CredentialHandover": {"mask_fields": ["token_digest"]},
    "partners.PartnerMembership": {},
    "partners.PartnerInvitation": {"mask_fields": ["token_digest"]},
    "products.ProductKind": {},
    "products.Product": {},
    "listings.Listing": {},
    "campaigns.Campaign": {
        # Running totals the deliveries move (the ledger is their record).
        "exclude_fields": ["spent", "leads_delivered", "counted_day", "counted_day_leads", "budget_alerted_at",
                           "updated_at"],
    },
    "campaigns.CampaignOrigin": {"exclude_fields": ["leads_delivered", "counted_day", "counted_day_leads"]},
    "sandbox.SandboxLenderSettings": {},
    "backoffice.BulkRetry": {"exclude_fields": ["last_lead_id", "retried", "skipped"]},
    "backoffice.Alert": {"exclude_fields": ["count", "message", "last_seen_at", "notified_at"]},
    "conformance.ConformanceProfile": {},
    "conformance.ActivationOverride": {},
    "conformance.Certificate": {},
    "auth.User": {"mask_fields": ["password"], "exclude_fields": ["last_login"], "m2m_fields": ["groups", "user_permissions"]},
    "auth.Group": {"m2m_fields": ["permissions"]},
    "otp_totp.TOTPDevice": {"mask_fields": ["key"], "exclude_fields": ["last_t", "drift", "throttling_failure_timestamp",
                                                                        "throttling_failure_count", "last_used_at"]},
}


def secret_masked(value: str) -> str:
    """auditlog's mask: says a secret changed, shows nothing of it."""
    return SECRET


def audited_models_register() -> None:
    from auditlog.registry import auditlog

    for label, options in AUDITED.items():
        model = apps.get_model(label)
        if auditlog.contains(model):
            continue
        fields = {field.name for field in model._meta.get_fields()}
        options = {name: [field for field in value if field in fields] for name, value in options.items()}
        auditlog.register(model, mask_callable="apps.backoffice.audit.secret_masked", **options)
