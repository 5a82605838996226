from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    """The data's life cycle: retention of every kind of data, purged by a daily beat task and
    by `manage.py purge_data` (with its dry run); and consumers' data requests, export and
    erasure by document number (data_requests.py, `manage.py consumer_data`, admin). Sits at the
    top of the layering: it gathers the purges the apps that own each table declare (their
    `retention.py`), reads every app's rows about a person, and nothing imports it."""

    name = "apps.lifecycle"
    verbose_name = "Data life cycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.lifecycle import checks  # noqa: F401 - registers the system checks
