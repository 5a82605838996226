from django.apps import AppConfig


class OriginApiConfig(AppConfig):
    name = "apps.origin_api"
    verbose_name = "Origin API"
    default_auto_field = "django.db.models.BigAutoField"
