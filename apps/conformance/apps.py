from django.apps import AppConfig


class ConformanceConfig(AppConfig):
    name = "apps.conformance"
    verbose_name = "Lender conformance"
    default_auto_field = "django.db.models.BigAutoField"
