# The lender's signed-request nonces and refusals move here from the postbacks app (the product
# data API uses them too, and sits below postbacks). Their tables stay as they are: state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('lenders', '0004_adapter_choices_from_registry'),
        ('postbacks', '0005_event_indexes_written_by_every_postback'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PostbackAuthFailure',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reason', models.CharField(max_length=40)),
                        ('source_ip', models.GenericIPAddressField(null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('lender', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='lenders.lender')),
                    ],
                    options={'db_table': 'postbacks_postbackauthfailure'},
                ),
                migrations.CreateModel(
                    name='PostbackNonce',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('nonce', models.CharField(max_length=128)),
                        ('tester', models.BooleanField(default=False, help_text='Seen by the postback tester, not the real endpoint.')),
                        ('seen_at', models.DateTimeField(db_index=True)),
                        ('lender', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='lenders.lender')),
                    ],
                    options={
                        'db_table': 'postbacks_postbacknonce',
                        'constraints': [models.UniqueConstraint(fields=('lender', 'tester', 'nonce'), name='postback_nonce_once_per_lender_and_use')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
