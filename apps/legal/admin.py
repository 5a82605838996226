"""The data controller in admin: one row, edited in place, never deleted."""

from django.contrib import admin

from apps.legal.models import DataController


@admin.register(DataController)
class DataControllerAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "email", "phone", "updated_at"]
    fields = ["legal_name", "tax_id", "address", "email", "phone", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request) -> bool:
        return not DataController.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
