from django.apps import AppConfig


class LendersConfig(AppConfig):
    name = "apps.lenders"
    default_auto_field = "django.db.models.BigAutoField"
