from django.contrib import admin, messages

from apps.origin_api.models import OriginApiClient, OriginLead
from apps.origin_api.services import origin_client_retire


@admin.register(OriginApiClient)
class OriginApiClientAdmin(admin.ModelAdmin):
    """Clients are made by `manage.py origin_credentials` (the secret is shown once, there); here
    staff see them and can retire one at once."""

    list_display = ("origin", "environment", "client_id", "created_at", "retires_at")
    list_filter = ("environment", "origin")
    readonly_fields = ("origin", "environment", "client_id", "created_at", "retires_at")
    fields = readonly_fields
    actions = ["retire_now"]

    @admin.display(description="client_id")
    def client_id(self, client: OriginApiClient) -> str:
        return client.application.client_id

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retire now (no new token; its tokens are revoked)")
    def retire_now(self, request, queryset):
        for client in queryset:
            origin_client_retire(client=client)
        self.message_user(request, f"Retired {queryset.count()} client(s).", messages.SUCCESS)


@admin.register(OriginLead)
class OriginLeadAdmin(admin.ModelAdmin):
    list_display = ("uuid", "origin", "environment", "partner_lead_id", "lead", "created_at")
    list_filter = ("environment", "origin")
    search_fields = ("=partner_lead_id", "=uuid")
    readonly_fields = ("uuid", "lead", "origin", "environment", "client", "partner_lead_id", "loan_purpose",
                       "search_deadline", "created_at")
    exclude = ("body_digest",)

    def has_add_permission(self, request) -> bool:
        return False
