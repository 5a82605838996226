"""Publish the consent texts the flow showed as constants (apps/flow/forms.py and the identity
page) as the first versions, so journeys recorded under version 2026-11-01 point at exactly what
they saw; see apps/legal/first_texts.py (frozen)."""

from django.db import migrations

from apps.legal.first_texts import FIRST_VERSION, SECOND_VERSION, first_texts_publish


# A published text is evidence of what consumers accepted: the database itself refuses to change
# or delete it, whoever asks (admin, a script, SQL by hand). Publishing (a draft's published_at
# set) is the one update allowed. TRUNCATE (a test's flush) fires no row trigger.
IMMUTABLE = """
CREATE FUNCTION legal_consenttext_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'Consent text % is published: % refused', OLD.id, TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;
CREATE TRIGGER legal_consenttext_immutable BEFORE UPDATE OR DELETE ON legal_consenttext
    FOR EACH ROW EXECUTE FUNCTION legal_consenttext_immutable();
"""
MUTABLE = """
DROP TRIGGER IF EXISTS legal_consenttext_immutable ON legal_consenttext;
DROP FUNCTION IF EXISTS legal_consenttext_immutable();
"""


def publish(apps, schema_editor):
    first_texts_publish(apps.get_model("legal", "ConsentText"))


def unpublish(apps, schema_editor):
    apps.get_model("legal", "ConsentText").objects.filter(version__in=[FIRST_VERSION, SECOND_VERSION]).delete()


class Migration(migrations.Migration):
    dependencies = [("legal", "0002_consent_texts")]

    # Reversed bottom-up: the trigger goes first, then the rows.
    operations = [migrations.RunPython(publish, unpublish), migrations.RunSQL(IMMUTABLE, MUTABLE)]
