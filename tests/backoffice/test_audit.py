"""The audit log: every staff change with who and what, before and after; secrets recorded as
changed without their value; append-only in the database."""

import pytest
from auditlog.models import LogEntry
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.urls import reverse

from apps.lenders.models import Lender
from tests.factories import LenderFactory, ListingFactory, OriginFactory, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("ana.staff", "ana.staff@prosperas.test", "pw-for-tests-only")
    client.force_login(user)
    client.user = user
    return client


def test_a_campaign_changed_in_admin_is_logged_with_its_author_and_both_values(superuser_client):
    campaign = publish(listing=ListingFactory(), origin=OriginFactory(), name="Spring")
    campaign.name = "Summer"
    # Through the admin's middleware, as staff work: the author is the request's user.
    from auditlog.context import set_actor

    with set_actor(superuser_client.user):
        campaign.save()

    entry = LogEntry.objects.get_for_object(campaign).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == superuser_client.user
    assert entry.changes_dict["name"] == ["Spring", "Summer"]


def test_an_admin_form_change_records_the_staff_user_and_address(superuser_client):
    origin = OriginFactory(name="Movil Uno")
    page = superuser_client.get(reverse("admin:origins_origin_change", args=[origin.pk]))
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(name="Movil Dos", compare_mode="" if not origin.compare_mode else "on")
    data = {key: value for key, value in data.items() if value is not False}
    response = superuser_client.post(reverse("admin:origins_origin_change", args=[origin.pk]), data,
                                     REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    entry = LogEntry.objects.get_for_object(origin).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert (entry.actor, entry.remote_addr) == (superuser_client.user, "10.1.2.3")
    assert entry.changes_dict["name"] == ["Movil Uno", "Movil Dos"]


def test_a_lender_credentials_change_is_logged_without_the_secret():
    lender = LenderFactory(credentials={"api_key": "old-key-123"}, postback_secret="old-postback-secret")
    lender.credentials = {"api_key": "new-key-456"}
    lender.postback_secret = "new-postback-secret"
    lender.save()

    entry = LogEntry.objects.get_for_object(lender).filter(action=LogEntry.Action.UPDATE).get()
    assert set(entry.changes_dict) >= {"credentials", "postback_secret"}
    stored = str(LogEntry.objects.filter(pk=entry.pk).values_list("changes", "changes_text").get())
    for secret in ("old-key-123", "new-key-456", "old-postback-secret", "new-postback-secret"):
        assert secret not in stored


def test_the_circuit_breaker_moving_a_lender_is_not_a_staff_change():
    lender = LenderFactory()
    before = LogEntry.objects.count()
    Lender.objects.filter(pk=lender.pk).update(circuit_state="open")  # as the breaker does
    lender.refresh_from_db()
    lender.circuit_note = "opened by the breaker"
    lender.save(update_fields=["circuit_note"])
    assert LogEntry.objects.count() == before


def test_the_audit_log_refuses_to_be_changed_or_deleted():
    lender = LenderFactory()
    lender.name = "Renamed"
    lender.save()
    entry = LogEntry.objects.get_for_object(lender).latest("timestamp")

    for statement in (f"UPDATE auditlog_logentry SET changes_text = 'forged' WHERE id = {entry.pk}",
                      f"DELETE FROM auditlog_logentry WHERE id = {entry.pk}"):
        with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(statement)
    assert LogEntry.objects.filter(pk=entry.pk, changes_text=entry.changes_text).exists()


def test_deleting_a_staff_account_keeps_its_entries_with_its_email(django_user_model):
    from auditlog.context import set_actor

    staff = django_user_model.objects.create_user("leaving", "leaving@prosperas.test", "pw", is_staff=True)
    lender = LenderFactory()
    with set_actor(staff):
        lender.name = "Changed by a leaver"
        lender.save()
    staff.delete()
    entry = LogEntry.objects.get_for_object(lender).latest("timestamp")
    assert entry.actor is None and entry.actor_email == "leaving@prosperas.test"
