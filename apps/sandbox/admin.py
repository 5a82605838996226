from django.contrib import admin
from django.db import models
from django.utils.html import escape

from apps.lenders.adapters import adapter_class
from apps.sandbox import services
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings
from apps.sandbox.styles import sandbox_styles

RULES_HELP = (
    "Sandbox lenders live at /sandbox/&lt;style&gt;/&lt;lender code&gt;/ for each API style: {styles}; each "
    "authenticates as its style does, with the lender's credentials (a mapped lender, as its mapped API description "
    "says). Decisions by monthly "
    f"income: below {services.REJECT_BELOW_INCOME:,} rejected; ending in {services.PENDING_SUFFIX} pending "
    "(embedded, mapped; the async lender answers timed_out), resolved after pending_seconds; otherwise "
    "approved with up to 3 offers (the product's shortest, middle and longest terms; 30% of income a "
    "month; annuity formula). Repeated calls with the same trackingId get the first answer. The failure "
    "script is consumed one step per API call (token endpoints excepted), e.g. \"500, 500, ok\". "
    "Latency and stalls are waited out without holding a database connection."
)


def rules_help() -> str:
    """RULES_HELP with every registered style's path and its adapter's label."""
    styles = "; ".join(
        f"{escape(style.path)} ({escape(adapter_class(key).label)})" for key, style in sandbox_styles().items()
    )
    return RULES_HELP.format(styles=styles)


@admin.register(SandboxLenderSettings)
class SandboxLenderSettingsAdmin(admin.ModelAdmin):
    list_display = ["lender", "latency_ms", "failure_script", "stall_seconds", "pending_seconds", "pending_then_resolve",
                    "callback_delay_seconds", "calls_received", "tokens_issued", "callbacks_sent", "updated_at"]
    search_fields = ["lender__code", "lender__name"]
    readonly_fields = ["calls_received", "tokens_issued", "callbacks_sent", "updated_at"]
    autocomplete_fields = ["lender"]
    # Django 5.2 warns about URLField's default scheme changing in 6.0.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["lender"], "description": rules_help()}),
            ("Knobs", {"fields": ["latency_ms", "failure_script", "stall_seconds", "pending_seconds",
                                  "pending_then_resolve", "callback_delay_seconds", "callback_url", "token_ttl_seconds"]}),
            ("Conformance knobs (each breaks one check of the conformance kit)", {"fields": [
                "repeat_answers_differ", "rejection_as_error", "handoff_refused", "postback_click_id_changed",
                "postback_bad_signature", "postback_nonce_reused", "postback_bad_transition"]}),
            ("Activity", {"fields": ["calls_received", "tokens_issued", "callbacks_sent", "updated_at"]}),
        ]


@admin.register(SandboxApplication)
class SandboxApplicationAdmin(admin.ModelAdmin):
    """What the sandbox answered, per trackingId (no personal data is kept)."""

    list_display = ["application_ref", "lender", "tracking_id", "product_id", "decision", "created_at"]
    list_filter = ["lender", "decision"]
    search_fields = ["tracking_id", "application_ref"]
    readonly_fields = [field.name for field in SandboxApplication._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
