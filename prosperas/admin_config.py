from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with prosperas.admin_site.StaffAdminSite (behind a second factor) as
    `admin.site`. Its own module: an app config is imported before the models are ready."""

    default_site = "prosperas.admin_site.StaffAdminSite"
