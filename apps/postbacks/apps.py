from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "apps.postbacks"
    default_auto_field = "django.db.models.BigAutoField"
