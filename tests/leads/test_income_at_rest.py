"""Monthly income is personal data: encrypted at rest, with a coarse band in clear for queries;
the migration that made it so encrypts the rows it finds, and undoes it."""

import pytest
from django.db import connection

from apps.leads import services
from apps.leads.models import IncomeBand, Lead
from prosperas.crypto import decrypt
from tests.factories import LeadFactory

IDENTITY = services.IdentityData(document_type="CC", document_number="1020304050", full_name="Ana María Pérez",
                                 monthly_income=3_456_789)


def raw_income(lead_id: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute("SELECT monthly_income, monthly_income_band FROM leads_lead WHERE id = %s", [lead_id])
        return cursor.fetchone()


@pytest.mark.django_db
def test_the_stored_income_is_a_token_and_its_band_is_kept_for_queries():
    lead = LeadFactory()

    services.journey_identity_submit(lead=lead, identity=IDENTITY)

    stored, band = raw_income(lead.pk)
    assert "3456789" not in stored and decrypt(stored) == "3456789"
    assert band == IncomeBand.FROM_2M
    assert Lead.objects.get(pk=lead.pk).monthly_income == 3_456_789
    banded = Lead.objects.filter(monthly_income_band__gte=IncomeBand.FROM_2M)
    assert list(banded.values_list("pk", flat=True)) == [lead.pk]


@pytest.mark.django_db
def test_compare_mode_stores_the_income_encrypted_with_its_band():
    lead = LeadFactory(compare_mode=True)

    services.journey_compare_identity_submit(lead=lead, identity=IDENTITY, entries=[])

    stored, band = raw_income(lead.pk)
    assert "3456789" not in stored and band == IncomeBand.FROM_2M


@pytest.mark.parametrize(("income", "band"), [
    (0, 0), (999_999, 0), (1_000_000, 1_000_000), (2_500_777, 2_000_000), (7_999_999, 4_000_000),
    (15_000_000, 8_000_000), (90_000_000, 16_000_000), (None, None),
])
def test_bands_are_named_by_their_lower_bound(income, band):
    assert IncomeBand.of(income) == band


def _migration():
    import importlib

    return importlib.import_module("apps.leads.migrations.0006_monthly_income_encrypted_with_band")


@pytest.mark.django_db
def test_the_migration_encrypts_existing_incomes_with_their_band_and_decrypts_them_when_reversed():
    """Its data step on rows as the column change leaves them (the digits as text), and back."""
    leads = [LeadFactory(), LeadFactory(), LeadFactory(monthly_income=None)]
    with connection.cursor() as cursor:
        for lead, income in zip(leads, ("2500777", "950000")):
            cursor.execute("UPDATE leads_lead SET monthly_income = %s, monthly_income_band = NULL WHERE id = %s",
                           [income, lead.pk])

    with connection.schema_editor() as schema_editor:
        _migration().encrypt_incomes(None, schema_editor)

    (first, first_band), (second, second_band) = raw_income(leads[0].pk), raw_income(leads[1].pk)
    assert "2500777" not in first and decrypt(first) == "2500777" and first_band == 2_000_000
    assert decrypt(second) == "950000" and second_band == 0
    assert raw_income(leads[2].pk) == (None, None)
    assert Lead.objects.get(pk=leads[0].pk).monthly_income == 2_500_777

    with connection.schema_editor() as schema_editor:  # run twice (an interrupted run): nothing encrypted twice
        _migration().encrypt_incomes(None, schema_editor)
        assert decrypt(raw_income(leads[0].pk)[0]) == "2500777"
        _migration().decrypt_incomes(None, schema_editor)

    assert raw_income(leads[0].pk) == ("2500777", None) and raw_income(leads[1].pk) == ("950000", None)
