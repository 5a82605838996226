# PostbackNonce and PostbackAuthFailure now belong to the lenders app (its migration 0005), on the
# same tables: state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('lenders', '0005_signed_request_nonces_and_refusals'),
        ('postbacks', '0005_event_indexes_written_by_every_postback'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='PostbackAuthFailure'),
                migrations.DeleteModel(name='PostbackNonce'),
            ],
            database_operations=[],
        ),
    ]
