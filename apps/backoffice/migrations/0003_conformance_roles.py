"""The integrations role runs the conformance kit and manages certificates; compliance reads the
activation overrides (prosperas/roles.py)."""

from django.db import migrations


def roles_update(apps, schema_editor):
    from prosperas.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_audit_log_append_only"), ("conformance", "0001_initial")]

    operations = [migrations.RunPython(roles_update, migrations.RunPython.noop)]
