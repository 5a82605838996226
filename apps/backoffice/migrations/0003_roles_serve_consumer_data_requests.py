"""The compliance role serves consumers' data requests (apps/lifecycle DataRequest)."""

from django.db import migrations


def roles_sync(apps, schema_editor):
    from prosperas.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_audit_log_append_only"), ("lifecycle", "0001_consumer_data_requests")]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
