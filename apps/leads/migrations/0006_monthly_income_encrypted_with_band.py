"""Monthly income is personal data: encrypted at rest (prosperas.crypto), with a coarse band in
clear beside it for what queries need. Existing rows are encrypted and banded here; the reverse
decrypts them back into a bigint column."""

from django.db import migrations, models

import prosperas.crypto

# The band floors as they were when this migration was written (apps.leads.models.IncomeBand).
BAND_FLOORS = (0, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000)
BATCH = 1000


def _band(income: int) -> int:
    return max(floor for floor in BAND_FLOORS if floor <= income) if income >= 0 else 0


def _rewrite(schema_editor, convert) -> None:
    """Every stored income through `convert` (raw SQL: the field's own conversions would decrypt
    what is not encrypted yet), in batches by id."""
    connection = schema_editor.connection
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, monthly_income FROM leads_lead WHERE monthly_income IS NOT NULL AND id > %s"
                           " ORDER BY id LIMIT %s", [last_id, BATCH])
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany("UPDATE leads_lead SET monthly_income = %s, monthly_income_band = %s WHERE id = %s",
                               [(*convert(value), row_id) for row_id, value in rows])
        last_id = rows[-1][0]


def encrypt_incomes(apps, schema_editor) -> None:
    def convert(value: str) -> tuple[str, int]:
        if not value.isdigit():  # already a token (a run interrupted after its commit)
            return value, _band(int(prosperas.crypto.decrypt(value)))
        return prosperas.crypto.encrypt(value), _band(int(value))

    _rewrite(schema_editor, convert)


def decrypt_incomes(apps, schema_editor) -> None:
    def convert(value: str) -> tuple[str, None]:
        return (value if value.isdigit() else prosperas.crypto.decrypt(value)), None

    _rewrite(schema_editor, convert)


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0005_decision_data_moved'),
    ]

    operations = [
        migrations.AddField(
            model_name='lead',
            name='monthly_income_band',
            field=models.PositiveIntegerField(blank=True, choices=[(0, 'under 1,000,000'), (1000000, '1,000,000 to 1,999,999'), (2000000, '2,000,000 to 3,999,999'), (4000000, '4,000,000 to 7,999,999'), (8000000, '8,000,000 to 15,999,999'), (16000000, '16,000,000 or more')], help_text="The income's coarse band, for queries.", null=True),
        ),
        migrations.AlterField(
            model_name='lead',
            name='monthly_income',
            field=prosperas.crypto.EncryptedIntegerField(blank=True, help_text='Encrypted.', null=True),
        ),
        migrations.RunPython(encrypt_incomes, decrypt_incomes, elidable=False),
    ]
