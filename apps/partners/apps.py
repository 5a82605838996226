from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "apps.partners"
    verbose_name = "Lender portal"
    default_auto_field = "django.db.models.BigAutoField"
