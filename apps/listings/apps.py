from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "apps.listings"
    default_auto_field = "django.db.models.BigAutoField"
