from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "apps.flow"
    default_auto_field = "django.db.models.BigAutoField"
