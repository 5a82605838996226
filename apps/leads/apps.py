from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "apps.leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The journey's work is enqueued by task name (apps/leads/enqueue.py); registering the
        # tasks in every process lets an eager run (tests) find them without importing them there.
        from apps.leads import tasks  # noqa: F401
        from apps.leads.selectors import journey_personal_values
        from prosperas.telemetry import personal_values_source_register

        # An error report about a journey masks that consumer's values (prosperas/telemetry.py).
        personal_values_source_register(journey_personal_values)
