"""The staff roles (prosperas/roles.py) as groups with their permissions."""

from django.db import migrations


def roles_create(apps, schema_editor):
    from prosperas.roles import roles_sync

    roles_sync(apps)


def roles_remove(apps, schema_editor):
    from prosperas.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auditlog", "0017_add_actor_email"),
        ("leads", "0005_decision_data_moved"),
        ("postbacks", "0007_looks_like_holds_every_mangling"),
        ("lenders", "0005_signed_request_nonces_and_refusals"),
        ("campaigns", "0003_budgets_caps_conditions_ledger"),
        ("products", "0003_constraint_messages_for_lenders"),
        ("listings", "0002_representative_example_daily_views"),
        ("origins", "0002_origin_compare_mode"),
        ("sandbox", "0002_sandbox_styles_and_knobs"),
    ]

    operations = [migrations.RunPython(roles_create, roles_remove)]
