from django.contrib import admin

from apps.sandbox import services
from apps.sandbox.models import SandboxApplication, SandboxLenderSettings

RULES_HELP = (
    "Sandbox lenders (embedded style) live at /sandbox/embedded/&lt;lender code&gt;/ and authenticate "
    "X-Api-Key against the lender's api_key credential. Decisions by monthly income: below "
    f"{services.REJECT_BELOW_INCOME:,} rejected (consumer_not_eligible); ending in {services.PENDING_SUFFIX} "
    "pending (manual_review), approved after pending_seconds; otherwise approved with up to 3 offers "
    "(the product's shortest, middle and longest terms; 30% of income a month; annuity formula). "
    "Repeated calls with the same trackingId get the first answer. The failure script is consumed one "
    "step per API call, e.g. \"500, 500, ok\"."
)


@admin.register(SandboxLenderSettings)
class SandboxLenderSettingsAdmin(admin.ModelAdmin):
    list_display = ["lender", "latency_ms", "failure_script", "stall_seconds", "pending_seconds", "calls_received", "updated_at"]
    search_fields = ["lender__code", "lender__name"]
    readonly_fields = ["calls_received", "updated_at"]
    autocomplete_fields = ["lender"]
    fieldsets = [
        (None, {"fields": ["lender"], "description": RULES_HELP}),
        ("Knobs", {"fields": ["latency_ms", "failure_script", "stall_seconds", "pending_seconds"]}),
        ("Activity", {"fields": ["calls_received", "updated_at"]}),
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
