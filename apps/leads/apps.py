from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "apps.leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The journey's work is enqueued by task name (apps/leads/enqueue.py); registering the
        # tasks in every process lets an eager run (tests) find them without importing them there.
        from apps.leads import tasks  # noqa: F401
