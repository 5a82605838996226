"""Per-lender field release (apps/lenders/release.py): each existing lender is approved exactly
the journey fields its adapter declared when this migration was written, so no lender receives
less of what the flow collects for it; new lenders start with none approved until staff approve.

The declarations are written out here rather than read from the adapters, so that this
migration means the same thing whatever the adapters declare later."""

import re

from django.db import migrations, models

DECLARED = {
    "embedded": ["email", "phone"],
    "async_lead": ["requested_amount", "birth_date", "email", "region", "employment_status"],
    "offers_api": ["requested_amount", "birth_date", "email", "employment_status", "address_line", "city", "region",
                   "postal_code"],
    "mapped_json": ["email", "phone"],
}
JOURNEY_FIELDS = ("email", "phone", "birth_date", "region", "requested_amount", "employment_status", "address_line",
                  "city", "postal_code")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")


def approve_declared_fields(apps, schema_editor):
    Lender, MappedApi = apps.get_model("lenders", "Lender"), apps.get_model("lenders", "MappedApi")
    for lender in Lender.objects.all():
        names = list(DECLARED.get(lender.adapter, []))
        if lender.adapter == "mapped_json":
            api = MappedApi.objects.filter(lender_id=lender.pk).first()
            templates = f"{api.prequalify_template or ''} {api.submit_template or ''}" if api else ""
            names += [name.removeprefix("consumer.") for name in PLACEHOLDER.findall(templates)]
        lender.released_fields = [name for name in dict.fromkeys(names) if name in JOURNEY_FIELDS]
        lender.save(update_fields=["released_fields"])


class Migration(migrations.Migration):

    dependencies = [
        ("lenders", "0007_refusals_counted_per_key_address_reason_and_hour"),
    ]

    operations = [
        migrations.AddField(
            model_name="lender",
            name="released_fields",
            field=models.JSONField(blank=True, default=list, help_text="Consumer fields approved for release to this lender (those its adapter declares)."),
        ),
        migrations.RunPython(approve_declared_fields, migrations.RunPython.noop),
    ]
