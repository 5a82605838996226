"""Admin pieces every app's admin may use (an app may not import another app's admin)."""

from django.contrib import admin


class ReadOnlyInline(admin.TabularInline):
    """A record's related rows shown on its page for staff to read: none added, changed or
    deleted here (they change only through the services)."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
