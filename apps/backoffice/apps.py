from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The staff back office: roles (groups made by a migration), the audit log's scope, the
    staff's second factor."""

    name = "apps.backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from apps.backoffice.audit import audited_models_register

        audited_models_register()
