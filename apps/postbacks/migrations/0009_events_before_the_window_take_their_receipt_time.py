"""Events recorded before occurred_at was bounded may hold a moment before 2000-01-01 (stored as a
date before Christ for "0001-01-01T00:00:00+05:30"), which no page can show: each takes the
time it was received, as an event sent without occurred_at does. What the lender sent is still in
the event's raw body."""

from django.db import migrations

EARLIEST_MOMENT = "2000-01-01T00:00:00+00:00"  # prosperas.inbound.bounds.EARLIEST_MOMENT, as it was


def events_before_the_window_take_their_receipt_time(apps, schema_editor):
    table = apps.get_model("postbacks", "PostbackEvent")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET occurred_at = received_at WHERE occurred_at < %s", [EARLIEST_MOMENT])


class Migration(migrations.Migration):
    dependencies = [("postbacks", "0008_follow_up_gives_up_after_bounded_tries")]

    operations = [
        migrations.RunPython(events_before_the_window_take_their_receipt_time, migrations.RunPython.noop),
    ]
