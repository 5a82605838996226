from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "apps.postbacks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.postbacks import checks  # noqa: F401 - registers the system checks
