from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Health, readiness, heartbeats and metrics for whoever runs the platform. On top of the
    layers: it reads the other apps' selectors, and nothing imports it (only the URLs and the
    settings' middleware name it)."""

    name = "apps.operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from apps.operations import signals  # noqa: F401 - connects the Celery signals
