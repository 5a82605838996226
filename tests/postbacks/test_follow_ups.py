"""A follow-up that keeps failing stops after a bounded number of tries and is shown to staff, who
retry it from the admin (issue 12: a stored BC date once made follow_up_postbacks fail every 2 s
forever, and the consumer's email and the campaign's charge never happened)."""

import importlib
import time

import pytest
from django.db import connection
from django.urls import reverse

from apps.leads.models import Lead, LeadStatus
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import PostbackData, follow_up_delay_seconds, postback_follow_ups_run, postback_ingest
from tests.factories import LeadFactory

MAX_ATTEMPTS = 4


@pytest.fixture
def fast_follow_ups(settings):
    settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = 0.01  # delays of 20, 40, 80 ms
    settings.POSTBACK_FOLLOW_UP_MAX_ATTEMPTS = MAX_ATTEMPTS


def plant_a_bc_date_on_the_lead(lead: Lead) -> None:
    """What the old endpoint stored for "occurred_at": "0001-01-01T00:00:00+05:30": a date before
    Christ, which PostgreSQL keeps and Python cannot read back."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Lead._meta.db_table} SET lender_status_at = '0001-01-01 00:00:00+00 BC' "
                       "WHERE id = %s", [lead.pk])


def due_event(lender) -> tuple[Lead, PostbackEvent]:
    lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
    event = postback_ingest(lender=lender, data=PostbackData(click_id=lead.tracking_id, status="approved"),
                            raw_body=b"{}", headers={}, source_ip=None).event
    return lead, event


def run_until_quiet(runs: int) -> list[int]:
    """Run the follow-ups `runs` times, each after the longest delay has passed."""
    done = []
    for _ in range(runs):
        time.sleep(follow_up_delay_seconds(MAX_ATTEMPTS) + 0.01)
        done.append(postback_follow_ups_run())
    return done


def test_a_follow_up_that_keeps_failing_is_given_up_after_the_bounded_tries(lender, fast_follow_ups, caplog):
    lead, event = due_event(lender)
    _, healthy = due_event(lender)
    plant_a_bc_date_on_the_lead(lead)

    done = run_until_quiet(MAX_ATTEMPTS + 3)

    event.refresh_from_db()
    assert done[0] == 1 and sum(done) == 1  # the healthy event, once; the broken one never held it up
    assert PostbackEvent.objects.get(pk=healthy.pk).followed_up_at is not None
    assert event.followed_up_at is None
    assert event.follow_up_attempts == MAX_ATTEMPTS  # tried exactly that often, then no more
    assert event.follow_up_failed_at is not None
    assert event.follow_up_error.startswith("DataError") and "BC" in event.follow_up_error
    assert caplog.text.count(f"postback event {event.pk}: follow-up failed") == MAX_ATTEMPTS
    assert f"postback event {event.pk}: follow-up given up after {MAX_ATTEMPTS} failures" in caplog.text


def test_a_failed_follow_up_waits_longer_after_each_failure(lender, settings):
    settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = 2
    lead, event = due_event(lender)
    plant_a_bc_date_on_the_lead(lead)

    assert [postback_follow_ups_run() for _ in range(3)] == [0, 0, 0]

    event.refresh_from_db()
    assert event.follow_up_attempts == 1  # the second and third runs came before its next try
    assert event.follow_up_failed_at is None and event.follow_up_next_at is not None
    assert [follow_up_delay_seconds(failures) for failures in (1, 2, 3, 8, 20)] == [4, 8, 16, 300, 300]


def test_staff_see_a_given_up_follow_up_with_its_error_and_retry_it(admin_client, lender, fast_follow_ups):
    lead, event = due_event(lender)
    _, healthy = due_event(lender)
    plant_a_bc_date_on_the_lead(lead)
    run_until_quiet(MAX_ATTEMPTS)
    changelist = reverse("admin:postbacks_postbackevent_changelist")

    failed = admin_client.get(changelist, {"follow_up": "failed"})

    assert failed.status_code == 200
    assert [row.pk for row in failed.context["cl"].result_list] == [event.pk]
    assert "failed</strong> (4 tries): DataError" in failed.content.decode()
    assert [row.pk for row in admin_client.get(changelist, {"follow_up": "done"}).context["cl"].result_list] == [
        healthy.pk]
    # The fault is fixed (the lead's date set right), then staff retry from the list.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Lead._meta.db_table} SET lender_status_at = now() WHERE id = %s", [lead.pk])
    retried = admin_client.post(changelist, {"action": "follow_up_retry", "_selected_action": [event.pk, healthy.pk]},
                                follow=True)
    assert retried.status_code == 200
    assert "1 follow-up(s) will be tried again" in retried.content.decode()
    assert postback_follow_ups_run() == 1
    event.refresh_from_db()
    assert event.followed_up_at is not None and event.follow_up_failed_at is None
    assert admin_client.get(reverse("admin:postbacks_postbackevent_change", args=[event.pk])).status_code == 200


def test_events_stored_before_the_window_take_their_receipt_time_and_show_again(admin_client, lender):
    """The data migration for events recorded before occurred_at was bounded."""
    from django.apps import apps as installed_apps
    from django.db import connection as db_connection

    migration = importlib.import_module(
        "apps.postbacks.migrations.0009_events_before_the_window_take_their_receipt_time")
    _, event = due_event(lender)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PostbackEvent._meta.db_table} SET occurred_at = '0001-01-01 00:00:00+00 BC' "
                       "WHERE id = %s", [event.pk])
    page = reverse("admin:postbacks_postbackevent_change", args=[event.pk])
    with pytest.raises(Exception, match="BC"):  # what every page showing it met
        admin_client.get(page)

    with db_connection.schema_editor() as schema_editor:
        migration.events_before_the_window_take_their_receipt_time(installed_apps, schema_editor)

    event.refresh_from_db()
    assert event.occurred_at == event.received_at
    assert admin_client.get(page).status_code == 200
