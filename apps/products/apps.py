from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "apps.products"
    default_auto_field = "django.db.models.BigAutoField"
