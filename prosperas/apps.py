from django.apps import AppConfig


class ProsperasConfig(AppConfig):
    """The project package as an app, so that its project-wide system checks (checks.py) are
    registered, and the optional error and trace export configured (telemetry.py), in every
    process, whichever apps are installed."""

    name = "prosperas"
    verbose_name = "Prosperas"

    def ready(self) -> None:
        from prosperas import checks  # noqa: F401 - registers the checks
        from prosperas.telemetry import telemetry_configure

        telemetry_configure()
