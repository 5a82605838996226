"""The audit log is append-only in the database itself: no row is ever changed or deleted, by
admin, by a script or by hand. The one change allowed is the one Django makes when a staff
account is deleted: its entries keep everything but the link to the account (actor set null;
the actor's email stays on each entry)."""

from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER auditlog_append_only BEFORE UPDATE OR DELETE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION auditlog_append_only();
"""
REMOVE = """
DROP TRIGGER IF EXISTS auditlog_append_only ON auditlog_logentry;
DROP FUNCTION IF EXISTS auditlog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_roles"), ("auditlog", "0017_add_actor_email")]

    operations = [migrations.RunSQL(APPEND_ONLY, REMOVE)]
