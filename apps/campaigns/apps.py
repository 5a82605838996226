from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    default_auto_field = "django.db.models.BigAutoField"
