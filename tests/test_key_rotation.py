"""Key rotation (prosperas/key_rotation.py, manage.py rotate_encryption_keys) on the real database,
with the platform reading and writing the same rows from another thread while it runs."""

import io
import random
import threading
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection, connections

from apps.leads.models import Lead, LeadExtraData
from apps.lenders.models import Lender
from apps.origins.models import Origin
from prosperas import crypto, key_rotation
from prosperas.crypto import EncryptedTextField
from tests.factories import LeadFactory, LenderFactory, OriginFactory


def _raw_tokens(column: key_rotation.EncryptedColumn) -> dict:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column.model._meta.pk.column)}, {quote(column.field.column)} "
                       f"FROM {quote(column.table)} WHERE {quote(column.field.column)} <> ''")
        return dict(cursor.fetchall())


def _every_value(models_: list) -> dict:
    """Every encrypted value of every row, read through the ORM (so decrypted)."""
    values = {}
    for column in key_rotation.encrypted_columns():
        if column.model in models_:
            for pk, value in column.model.objects.values_list("pk", column.field.name):
                values[(column.label, pk)] = value
    return values


@pytest.fixture
def two_keys(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    return settings, old_key, new_key


def _platform_data(count: int) -> list[Lead]:
    lender = LenderFactory(credentials={"api_key": "k-123", "client_secret": "cs-456"}, postback_secret="s" * 40,
                           postback_secret_previous="p" * 40)
    OriginFactory(deep_link_secret="origin-secret-value")
    leads = []
    for number in range(count):
        lead = LeadFactory(listing__product__lender=lender, document_number=f"10{number:08d}",
                           full_name=f"Consumidor {number}", email=f"c{number}@example.com",
                           phone=f"300{number:07d}", birth_date="1990-01-31")
        LeadExtraData.objects.create(lead=lead, values={"address_line": f"Calle {number}"})
        leads.append(lead)
    return leads


def test_every_encrypted_column_is_found_in_the_model_registry():
    labels = {column.label for column in key_rotation.encrypted_columns()}

    assert {"leads.Lead.document_number", "leads.Lead.full_name", "leads.Lead.email", "leads.Lead.phone",
            "leads.Lead.birth_date", "leads.LeadExtraData.values", "lenders.Lender.credentials",
            "lenders.Lender.postback_secret", "lenders.Lender.postback_secret_previous",
            "origins.Origin.deep_link_secret"} <= labels
    assert all(isinstance(column.field, key_rotation.encrypted_field_classes()) for column in
               key_rotation.encrypted_columns())
    assert EncryptedTextField in key_rotation.encrypted_field_classes()


@pytest.mark.django_db(transaction=True)
def test_rotation_moves_every_column_to_the_new_key_and_the_old_key_can_then_go(two_keys):
    settings, old_key, new_key = two_keys
    _platform_data(12)
    expected = _every_value([Lead, LeadExtraData, Lender, Origin])
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    out = io.StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "5", "--from-start", stdout=out, stderr=io.StringIO())

    new = Fernet(new_key.encode())
    for column in key_rotation.encrypted_columns():
        for token in _raw_tokens(column).values():
            new.decrypt(token.encode())  # under the new key, every row of every column
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert _every_value([Lead, LeadExtraData, Lender, Origin]) == expected
    assert "0 changed by the platform" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_second_run_writes_nothing_and_a_restart_continues_from_its_checkpoint(two_keys):
    settings, old_key, new_key = two_keys
    _platform_data(6)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    lead_column = next(c for c in key_rotation.encrypted_columns() if c.label == "leads.Lead.full_name")

    first = key_rotation.column_rotate(lead_column, batch_size=4, from_start=True)
    assert (first.rotated, first.already_current) == (6, 0)
    again = key_rotation.column_rotate(lead_column, batch_size=4, from_start=True)
    assert (again.rotated, again.already_current) == (0, 6)
    resumed = key_rotation.column_rotate(lead_column, batch_size=4)  # the checkpoint says all done
    assert (resumed.scanned, resumed.resumed_after) == (0, max(_raw_tokens(lead_column)))


@pytest.mark.django_db(transaction=True)
def test_a_value_changed_after_the_batch_read_it_is_never_overwritten(two_keys):
    settings, old_key, new_key = two_keys
    lead = LeadFactory(full_name="Antes")
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    column = next(c for c in key_rotation.encrypted_columns() if c.label == "leads.Lead.full_name")
    (pk, stale_token), = [(p, t) for p, t in _raw_tokens(column).items() if p == lead.pk]

    Lead.objects.filter(pk=lead.pk).update(full_name="Después")  # the platform, between read and write
    written = key_rotation.rotated_rows_write(column, [(pk, stale_token, crypto.rotate(stale_token))])

    assert written == set()
    assert Lead.objects.get(pk=lead.pk).full_name == "Después"


@pytest.mark.django_db(transaction=True)
def test_values_stay_readable_while_the_rotation_runs_alongside_reads_and_writes(two_keys):
    settings, old_key, new_key = two_keys
    leads = _platform_data(80)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    last_written = {lead.pk: lead.full_name for lead in leads}
    running, stop, errors, operations = threading.Event(), threading.Event(), [], {"reads": 0, "writes": 0}

    def platform() -> None:
        """Reads every field of a lead (all decrypted) and rewrites names, as requests would."""
        rng = random.Random(7)
        try:
            while not stop.is_set():
                lead = Lead.objects.select_related("extra_data").get(pk=rng.choice(list(last_written)))
                assert lead.document_number.startswith("10") and lead.extra_data.values["address_line"]
                if running.is_set():
                    operations["reads"] += 1
                if rng.random() < 0.5:
                    name = f"Reescrito {rng.randrange(10**6)}"
                    Lead.objects.filter(pk=lead.pk).update(full_name=name)
                    last_written[lead.pk] = name
                    if running.is_set():
                        operations["writes"] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=platform)
    thread.start()
    try:
        time.sleep(0.2)
        running.set()
        call_command("rotate_encryption_keys", "--batch-size", "3", "--from-start",
                     stdout=io.StringIO(), stderr=io.StringIO())
        running.clear()
    finally:
        stop.set()
        thread.join(timeout=30)

    assert errors == []
    assert operations["reads"] > 20 and operations["writes"] > 10  # it really ran alongside
    new = Fernet(new_key.encode())
    for column in key_rotation.encrypted_columns():
        for token in _raw_tokens(column).values():
            new.decrypt(token.encode())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert {lead.pk: lead.full_name for lead in Lead.objects.all()} == last_written
    assert len(_every_value([Lead, LeadExtraData, Lender, Origin])) > 80 * 5


@pytest.mark.django_db(transaction=True)
def test_a_value_no_key_decrypts_is_reported_and_left_alone(two_keys):
    settings, old_key, new_key = two_keys
    lead = LeadFactory(full_name="Ana")
    stranger = Fernet(Fernet.generate_key()).encrypt(b"unknown").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET email = %s WHERE id = %s", [stranger, lead.pk])
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    with pytest.raises(Exception, match=rf"leads.Lead.email: primary keys \[{lead.pk}\]"):
        call_command("rotate_encryption_keys", "--from-start", stdout=io.StringIO(), stderr=io.StringIO())

    column = next(c for c in key_rotation.encrypted_columns() if c.label == "leads.Lead.email")
    assert _raw_tokens(column)[lead.pk] == stranger
    full_name = next(c for c in key_rotation.encrypted_columns() if c.label == "leads.Lead.full_name")
    assert Fernet(new_key.encode()).decrypt(_raw_tokens(full_name)[lead.pk].encode()) == b"Ana"  # the rest went on
    with pytest.raises(InvalidToken):
        Fernet(new_key.encode()).decrypt(stranger.encode())
