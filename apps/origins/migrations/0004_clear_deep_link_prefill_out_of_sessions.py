"""Deep link prefill was kept in the session in clear (name, phone) before it was kept encrypted:
drop what the open sessions still hold that way. The consumer only loses a prefilled form."""

from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations
from django.utils import timezone

SESSION_PREFILL = "flow_prefill"  # apps.flow.journeys.SESSION_PREFILL when this was written


def drop_clear_prefill(apps, schema_editor) -> None:
    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = store.decode(session.session_data)
        kept = data.get(SESSION_PREFILL)
        if not isinstance(kept, dict) or all(isinstance(value, str) for value in kept.values()):
            continue  # nothing, or only encrypted values
        encrypted = {code: value for code, value in kept.items() if isinstance(value, str)}
        if encrypted:
            data[SESSION_PREFILL] = encrypted
        else:
            del data[SESSION_PREFILL]
        session.session_data = store.encode(data)
        session.save(update_fields=["session_data"])


class Migration(migrations.Migration):

    dependencies = [
        ("origins", "0003_origin_deep_link_legacy_plain_switch"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_clear_prefill, migrations.RunPython.noop)]
