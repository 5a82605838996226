"""The data controller (one row, edited in place, never deleted) and the consent texts (drafts
edited, then published by version; a published text is read-only)."""

from django.contrib import admin, messages

from apps.legal.models import ConsentText, DataController
from apps.legal.services import ConsentVersionError, consent_version_publish


@admin.register(DataController)
class DataControllerAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "email", "phone", "updated_at"]
    fields = ["legal_name", "tax_id", "address", "email", "phone", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request) -> bool:
        return not DataController.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    list_display = ["version", "language", "mode", "published_at", "created_at"]
    list_filter = ["version", "language", "mode", ("published_at", admin.EmptyFieldListFilter)]
    fields = ["version", "language", "mode", "terms_label", "privacy_label", "data_processing_label", "sharing",
              "created_at", "published_at"]
    readonly_fields = ["created_at", "published_at"]
    actions = ["publish_versions"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_published:
            return self.fields  # evidence of what consumers accepted: never edited
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or not obj.is_published

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a bulk delete would skip the published rows' guard
        return actions

    @admin.action(description="Publish the selected rows' versions (every language and mode at once)")
    def publish_versions(self, request, queryset):
        for version in sorted(set(queryset.values_list("version", flat=True))):
            try:
                count = consent_version_publish(version=version)
            except ConsentVersionError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"Version {version} published ({count} texts).", messages.SUCCESS)
