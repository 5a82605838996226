from django.apps import AppConfig


class OriginApiConfig(AppConfig):
    name = "apps.origin_api"
    verbose_name = "Origin API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.leads.signals import lead_changed
        from apps.origin_api import receivers

        lead_changed.connect(receivers.lead_changed_sync, dispatch_uid="origin_api.lead_changed_sync")
