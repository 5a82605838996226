from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The staff back office: roles (groups made by a migration), the audit log's scope, the
    staff's second factor, bulk retries and the marketplace's alerts."""

    name = "apps.backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.backoffice.audit import audited_models_register

        audited_models_register()
        # Run once, after auth's signal (roles_sync makes any permission or content type not
        # there yet), whichever app sends it.
        post_migrate.connect(_roles_sync, dispatch_uid="backoffice_roles_sync")


def _roles_sync(sender, apps=None, **kwargs) -> None:
    """After migrate and after flush (which empties auth_group): the roles as prosperas/roles.py
    says, whatever happened to the groups' rows."""
    from prosperas.roles import roles_sync

    if sender.label != "auth":
        return
    if apps is None:  # a flush's signal carries no app registry: the installed apps
        from django.apps import apps
    roles_sync(apps)
