import json

from django.contrib import admin, messages
from django.db import transaction

from apps.origin_api.callbacks import callback_redeliver
from apps.origin_api.models import (
    CallbackAttempt,
    CallbackDelivery,
    OriginApiClient,
    OriginLead,
    OriginWebhook,
    WebhookSecret,
)
from apps.origin_api.services import origin_client_retire
from apps.origin_api.tasks import deliver_callback


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


class WebhookSecretInline(admin.TabularInline):
    """The secrets' dates only: a secret is shown once, by `manage.py origin_webhook`."""

    model = WebhookSecret
    fields = ("created_at", "retires_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OriginWebhook)
class OriginWebhookAdmin(admin.ModelAdmin):
    """Set and rotated by `manage.py origin_webhook` (which shows a new secret once); here staff
    see them and can pause one."""

    list_display = ("origin", "environment", "is_active", "updated_at")
    list_filter = ("environment", "is_active")
    readonly_fields = ("origin", "environment", "url", "created_at", "updated_at")
    fields = ("origin", "environment", "url", "is_active", "created_at", "updated_at")
    inlines = [WebhookSecretInline]

    def has_add_permission(self, request) -> bool:
        return False


class CallbackAttemptInline(admin.TabularInline):
    model = CallbackAttempt
    fields = ("number", "started_at", "duration_ms", "http_status", "error", "response_excerpt", "by_staff")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    """Every callback to an origin and each of its attempts; staff redeliver from here."""

    list_display = ("event_id", "event_type", "event_key", "webhook", "state", "attempts", "next_attempt_at",
                    "delivered_at")
    list_filter = ("state", "webhook__environment", "webhook__origin")
    search_fields = ("=event__public_id", "=event__origin_lead__uuid", "=event__origin_lead__partner_lead_id")
    list_select_related = ("event", "webhook__origin")
    readonly_fields = ("event_id", "event_type", "event_key", "webhook", "state", "attempts", "next_attempt_at",
                       "retry_until", "delivered_at", "created_at", "body")
    fields = readonly_fields
    inlines = [CallbackAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event id")
    def event_id(self, delivery: CallbackDelivery) -> str:
        return delivery.event.public_id

    @admin.display(description="type")
    def event_type(self, delivery: CallbackDelivery) -> str:
        return delivery.event.type

    @admin.display(description="status or lender")
    def event_key(self, delivery: CallbackDelivery) -> str:
        return delivery.event.key

    @admin.display(description="body")
    def body(self, delivery: CallbackDelivery) -> str:
        return json.dumps(delivery.event.payload, indent=2, ensure_ascii=False)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Redeliver now (same event id)")
    def redeliver(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        callback_redeliver(delivery_ids=ids)
        transaction.on_commit(lambda: [deliver_callback.delay(pk, by_staff=True) for pk in ids])
        self.message_user(request, f"{len(ids)} callback(s) due again now.", messages.SUCCESS)
