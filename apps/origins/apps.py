from django.apps import AppConfig


class OriginsConfig(AppConfig):
    name = "apps.origins"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Project-wide configuration checks live in prosperas/checks.py; registering them here
        # (the first project app) keeps them in `manage.py check` without a project app of its own.
        from prosperas import checks  # noqa: F401
