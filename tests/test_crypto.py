import pytest
from cryptography.fernet import Fernet
from django.db import connection

from apps.leads.models import Lead
from prosperas import crypto
from tests.factories import LeadFactory, LenderFactory


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_identifying_consumer_fields_are_encrypted_at_rest_and_read_back_in_clear():
    lead = LeadFactory(document_number="1234567890", full_name="Ana María Pérez", email="ana@example.com",
                       phone="3001234567")

    for column, value in [("document_number", "1234567890"), ("full_name", "Ana María Pérez"),
                          ("email", "ana@example.com"), ("phone", "3001234567")]:
        stored = _raw("leads_lead", column, lead.pk)
        assert value not in stored
        assert crypto.decrypt(stored) == value

    fresh = Lead.objects.get(pk=lead.pk)
    assert (fresh.document_number, fresh.email) == ("1234567890", "ana@example.com")


@pytest.mark.django_db
def test_lender_credentials_and_postback_secret_are_encrypted_at_rest():
    lender = LenderFactory(credentials={"api_key": "very-secret-key"}, postback_secret="s3cr3t-value")

    assert "very-secret-key" not in _raw("lenders_lender", "credentials", lender.pk)
    assert "s3cr3t-value" not in _raw("lenders_lender", "postback_secret", lender.pk)
    lender.refresh_from_db()
    assert lender.credentials == {"api_key": "very-secret-key"}


@pytest.mark.django_db
def test_a_value_encrypted_with_an_unknown_key_fails_loudly(settings):
    lead = LeadFactory(document_number="1234567890")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(crypto.DecryptionError):
        Lead.objects.get(pk=lead.pk)


@pytest.mark.django_db
def test_keys_rotate_old_values_still_decrypt_and_rotate_moves_them_to_the_new_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = crypto.encrypt("1234567890")

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(token) == "1234567890"
    rotated = crypto.rotate(token)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "1234567890"


def test_mask_keeps_only_the_last_characters():
    assert crypto.mask("1234567890") == "••••••7890"
    assert crypto.mask("12") == "••"
    assert crypto.mask("") == ""
