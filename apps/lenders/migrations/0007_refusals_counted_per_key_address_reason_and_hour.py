# Refusals of signed requests are counted (one row per lender, key, address, reason and hour, with
# a few samples) instead of stored one row each. The rows already there are folded into their
# buckets first: each becomes a count in the row of its hour, seen first and last when it was.

import apps.lenders.models
import django.utils.timezone
from django.db import migrations, models


FOLD_EXISTING_ROWS = """
UPDATE postbacks_postbackauthfailure
   SET hour = date_trunc('hour', created_at), first_seen_at = created_at, last_seen_at = created_at;
WITH buckets AS (
    SELECT min(id) AS kept, count(*) AS refusals, min(created_at) AS first_seen, max(created_at) AS last_seen
      FROM postbacks_postbackauthfailure GROUP BY lender_id, reason, source_ip, hour
)
UPDATE postbacks_postbackauthfailure AS refusal
   SET count = buckets.refusals, first_seen_at = buckets.first_seen, last_seen_at = buckets.last_seen
  FROM buckets WHERE refusal.id = buckets.kept;
DELETE FROM postbacks_postbackauthfailure WHERE id NOT IN (
    SELECT min(id) FROM postbacks_postbackauthfailure GROUP BY lender_id, reason, source_ip, hour
);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('lenders', '0006_lender_call_lease'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='postbackauthfailure',
            options={'verbose_name': 'refused signed request (counted)', 'verbose_name_plural': 'refused signed requests (counted)'},
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='count',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='first_seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='hour',
            field=models.DateTimeField(db_index=True, default=apps.lenders.models.refusal_hour, help_text='The hour counted in (its start).'),
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='key',
            field=models.CharField(blank=True, default='', max_length=128),
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='last_seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name='postbackauthfailure',
            name='samples',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunSQL(FOLD_EXISTING_ROWS, migrations.RunSQL.noop),
        migrations.RemoveField(
            model_name='postbackauthfailure',
            name='created_at',
        ),
        migrations.AddConstraint(
            model_name='postbackauthfailure',
            constraint=models.UniqueConstraint(fields=('lender', 'key', 'reason', 'source_ip', 'hour'), name='refusal_count_one_row_per_bucket', nulls_distinct=False),
        ),
    ]
