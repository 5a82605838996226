from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Staff dashboards: daily rollups of the marketplace's rows (kept by a periodic task) and the
    charts drawn from them in admin."""

    name = "apps.reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"
