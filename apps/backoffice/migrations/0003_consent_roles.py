"""Compliance writes and publishes consent texts and follows up consumers' revocations with the
lenders; support reads those follow-ups (prosperas/roles.py)."""

from django.db import migrations


def sync(apps, schema_editor):
    from prosperas.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_audit_log_append_only"), ("legal", "0003_publish_first_consent_texts"),
                    ("leads", "0009_consent_texts_and_revocation")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
