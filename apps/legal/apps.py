from django.apps import AppConfig


class LegalConfig(AppConfig):
    name = "apps.legal"
    verbose_name = "Legal"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_first_texts_restore, sender=self, dispatch_uid="legal_first_texts_restore")


def _first_texts_restore(sender, **kwargs) -> None:
    """After a flush (tests' transactional databases), which empties every table, the first
    published consent texts come back as the migration made them: the flow cannot run without a
    published text. After a migrate they are there already (get_or_create)."""
    from apps.legal.first_texts import first_texts_publish
    from apps.legal.models import ConsentText

    first_texts_publish(ConsentText)
