"""A consumer's revocation of consent (apps/leads/revocation.py), against sandbox lenders over real
HTTP: it stops every further lender call of the journey, and reaches each lender that received
the data, through the adapter where the lender's API takes it, otherwise as a task for staff."""

import threading
import time

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from apps.campaigns.catalog import CatalogEntry
from apps.leads import services as lead_services
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.engine.rows import compare_ask_locked
from apps.leads.engine.attempt import lender_prequalify_attempt, lender_submit_attempt
from apps.leads.models import CONSENT_REVOKED, Decision, DecisionRequest, Lead, LeadEvent, LeadStatus, RevocationNotice
from apps.leads.notifications import lead_status_notify
from apps.leads.revocation import NothingToRevoke, consent_revoke, revocation_notice_done, revocation_notice_send
from apps.lenders.calls import lender_call_open
from apps.lenders.models import LenderCall
from apps.sandbox.models import SandboxApplication
from tests.factories import (
    CONSUMER_IDENTITY,
    EXTRA_DATA,
    JOURNEY_EXTRAS,
    LeadFactory,
    ListingFactory,
    OriginFactory,
    lead_with_journey_data,
    publish,
)
from tests.support import wait_until


def consented(lead: Lead) -> Lead:
    """The consents the hosted flow records with identity (the current published text)."""
    lead_services.consent_record(lead=lead, kinds=["terms", "privacy", "data_processing"], text_version="2026-12-03",
                                 ip_address="127.0.0.1")
    return Lead.objects.get(pk=lead.pk)


def calls(lead: Lead, capability: str | None = None) -> list[LenderCall]:
    found = LenderCall.objects.filter(lead=lead).order_by("started_at")
    return list(found.filter(capability=capability) if capability else found)


@pytest.fixture
def async_lender(sandbox_of, live_server, settings):
    settings.SITE_URL = live_server.url
    sandbox = sandbox_of("async_lead", privacy_contact_email="habeas@async.example")
    sandbox.script("", pending_seconds=0)  # the lender's lead resolves at once (asked by poll)
    return sandbox


@pytest.fixture
def compare_market(async_lender, sandbox_of):
    """A compare-mode origin with two sandbox lenders: the async lead API (takes revocations) and
    the embedded style (does not: staff tell it)."""
    embedded = sandbox_of("embedded", name="Banco Embebido", privacy_contact_email="datos@embebido.example")
    origin = OriginFactory(compare_mode=True)
    entries = []
    for sandbox in (async_lender, embedded):
        listing = ListingFactory(product=sandbox.product)
        entries.append(CatalogEntry(listing=listing, campaign=publish(listing=listing, origin=origin)))
    lead = LeadFactory(compare_mode=True, lender=None, listing=None, product=None, status=LeadStatus.NEW,
                       origin=origin, language="en", **CONSUMER_IDENTITY, **JOURNEY_EXTRAS)
    lead_extra_data_set(lead=lead, values=EXTRA_DATA)
    consented(lead)
    lead_services.journey_compare_request(lead=lead, entries=entries)
    return lead, async_lender, embedded


def test_a_revoked_compare_journey_makes_no_further_lender_calls(compare_market):
    lead, async_lender, embedded = compare_market
    # The async lender answers first; the embedded lender's call has not gone out yet.
    assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=async_lender.lender.pk).action == "recorded"
    assert len(calls(lead)) == 1

    assert consent_revoke(lead=lead) is True

    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=embedded.lender.pk)
    assert outcome.action == "skipped"
    assert len(calls(lead, "prequalify")) == 1  # no call to the embedded lender, ever
    assert set(DecisionRequest.objects.filter(lead=lead).values_list("state", flat=True)) == {"failed"}
    # The consumer's "try again" cannot reopen the asks either.
    with pytest.raises(lead_services.ConsentRevoked):
        lead_services.journey_compare_request(lead=Lead.objects.get(pk=lead.pk), entries=[])
    assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=None).action == "skipped"
    assert len(calls(lead, "prequalify")) == 1
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.CONSENT_REVOKED).count() == 1


def test_the_revocation_reaches_the_lender_through_its_api_and_the_others_as_a_staff_task(compare_market):
    lead, async_lender, embedded = compare_market
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=async_lender.lender.pk)
    consent_revoke(lead=lead)

    notices = {notice.lender_id: notice for notice in RevocationNotice.objects.filter(lead=lead)}
    assert notices[async_lender.lender.pk].channel == RevocationNotice.Channel.API
    assert notices[embedded.lender.pk].channel == RevocationNotice.Channel.STAFF  # asked, may have had the data

    outcome = revocation_notice_send(notice_id=notices[async_lender.lender.pk].pk)
    assert outcome.action == "recorded"
    [revoke_call] = calls(lead, "revoke")
    assert (revoke_call.outcome, revoke_call.http_status) == ("revoked", 200)
    assert "/consent-revocation" in revoke_call.request_url
    application = SandboxApplication.objects.get(lender=async_lender.lender, tracking_id=lead.tracking_id)
    assert application.consent_revoked_at is not None  # the lender recorded it
    assert RevocationNotice.objects.get(pk=notices[async_lender.lender.pk].pk).state == "done"
    # Sending again (a redelivered task) calls nobody.
    assert revocation_notice_send(notice_id=notices[async_lender.lender.pk].pk).action == "skipped"
    assert len(calls(lead, "revoke")) == 1
    # The embedded lender's notice waits for staff, who write to its privacy contact, then mark it done.
    staff_notice = RevocationNotice.objects.get(pk=notices[embedded.lender.pk].pk)
    assert staff_notice.state == "pending" and staff_notice.lender.privacy_contact_email == "datos@embebido.example"
    assert revocation_notice_done(notice_id=staff_notice.pk, user=None) is True
    assert revocation_notice_done(notice_id=staff_notice.pk, user=None) is False


def test_a_second_revocation_changes_nothing_and_a_journey_without_consent_has_none_to_revoke(compare_market, db):
    lead, *_ = compare_market
    assert consent_revoke(lead=lead) is True
    first = Lead.objects.get(pk=lead.pk).consent_revoked_at
    assert consent_revoke(lead=lead) is False
    assert Lead.objects.get(pk=lead.pk).consent_revoked_at == first
    assert RevocationNotice.objects.filter(lead=lead).count() == 2

    with pytest.raises(NothingToRevoke):
        consent_revoke(lead=LeadFactory(status=LeadStatus.NEW))


def test_a_revoked_single_journey_submits_nothing_even_when_its_submission_was_due(async_lender, sandbox_of):
    embedded = sandbox_of("embedded")
    lead = consented(lead_with_journey_data(lender=embedded.lender))
    assert lender_prequalify_attempt(lead_id=lead.pk, lender_id=embedded.lender.pk).action == "recorded"
    offer = Decision.objects.get(lead=lead).offers.first()
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.SUBMITTING, chosen_offer=offer)  # a submission due

    consent_revoke(lead=lead)

    assert lender_submit_attempt(lead_id=lead.pk).action == "skipped"
    assert calls(lead, "submit") == []
    assert RevocationNotice.objects.get(lead=lead).channel == RevocationNotice.Channel.STAFF


def test_the_consumer_is_emailed_the_revocation_in_their_language(compare_market):
    lead, async_lender, _ = compare_market
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=async_lender.lender.pk)
    consent_revoke(lead=lead)
    mail.outbox.clear()

    notification = lead_status_notify(lead_id=lead.pk, status=CONSENT_REVOKED)

    assert notification.state == "sent"
    [message] = mail.outbox
    assert message.subject == "You revoked your consent on Prosperas"
    assert f"/j/{lead.public_token}/consent" in message.body
    assert async_lender.lender.name in message.body
    assert "ana.perez" not in message.body


def test_a_real_worker_tells_the_lender_once_the_revocation_commits(compare_market, celery_worker):
    lead, async_lender, _ = compare_market
    lender_prequalify_attempt(lead_id=lead.pk, lender_id=async_lender.lender.pk)

    consent_revoke(lead=lead)  # its task is enqueued on commit; the worker makes the call

    def told():
        return SandboxApplication.objects.filter(lender=async_lender.lender, tracking_id=lead.tracking_id,
                                                 consent_revoked_at__isnull=False).exists()

    wait_until(told, timeout=30)
    wait_until(lambda: RevocationNotice.objects.get(lead=lead, lender=async_lender.lender).state == "done", timeout=10)
    assert len(calls(lead, "revoke")) == 1
    assert Lead.objects.get(pk=lead.pk).consent_revoked_at <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_revocation_waits_for_a_claim_in_progress_instead_of_deadlocking_with_it(compare_market):
    """A worker's claim holds the lender's ask and opens its call (whose reference to the lead is
    checked when it commits) while the consumer revokes: the revocation waits for the claim and
    ends after it, never a deadlock (which PostgreSQL would break by failing one of the two)."""
    lead, _, embedded = compare_market
    claim_holds_the_ask, errors = threading.Event(), []

    def claim():
        try:
            with transaction.atomic():
                assert compare_ask_locked(lead_id=lead.pk, lender_id=embedded.lender.pk) is not None
                lender_call_open(lender=embedded.lender, lead_id=lead.pk, capability="prequalify",
                                 tracking_id=lead.tracking_id)
                claim_holds_the_ask.set()
                time.sleep(0.5)  # the revocation takes the lead and waits on this ask meanwhile
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def revoke():
        try:
            claim_holds_the_ask.wait(10)
            consent_revoke(lead=lead)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim), threading.Thread(target=revoke)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert Lead.objects.get(pk=lead.pk).consent_revoked_at is not None
    assert DecisionRequest.objects.get(lead=lead, lender=embedded.lender).state == "failed"
