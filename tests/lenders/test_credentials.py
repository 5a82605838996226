"""Postback credentials the platform issues: issue, rotation with an overlap window, revocation,
last use, the one-time handover link, the data migration, and no secret in logs or the audit log."""

import importlib
import time
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.apps import apps as django_apps
from django.utils import timezone

from apps.lenders import credentials as service
from apps.lenders.models import CredentialHandover, Lender, LenderCredential, secret_digest
from tests.factories import LeadFactory, LenderFactory
from tests.postbacks.conftest import post_postback  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lender():
    return LenderFactory()


def send(post_postback, lender, secret, lead):  # noqa: F811
    return post_postback(lender, {"click_id": lead.tracking_id, "status": "pre_approved"}, secret=secret)


def test_an_issued_secret_verifies_and_the_key_is_the_platforms(lender, post_postback):  # noqa: F811
    issued = service.credential_issue(lender=lender, issued_by="test")
    lender.refresh_from_db()
    assert issued.secret.startswith("sk_") and len(issued.secret) > 40 and lender.postback_secret == issued.secret
    assert issued.credential.digest == secret_digest(issued.secret) and lender.postback_key.startswith("pk_test_")
    assert send(post_postback, lender, issued.secret, LeadFactory(listing__product__lender=lender)).status_code == 202


def test_during_the_overlap_both_secrets_verify_and_after_it_only_the_new_one(lender, post_postback):  # noqa: F811
    old = lender.postback_secret
    lead = LeadFactory(listing__product__lender=lender)
    assert send(post_postback, lender, old, lead).status_code == 202  # this process keeps the lender now
    new = service.credential_issue(lender=lender, issued_by="test", overlap=timedelta(seconds=1)).secret
    assert send(post_postback, lender, old, lead).status_code == 202
    assert send(post_postback, lender, new, lead).status_code == 202
    time.sleep(1.1)
    refused = send(post_postback, lender, old, lead)
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")
    assert send(post_postback, lender, new, lead).status_code == 202
    states = [credential.state() for credential in lender.postback_credentials.all()]
    assert states == ["active", "expired"]


def test_a_third_secret_ends_the_overlap_of_the_first_at_once(lender):
    first = lender.postback_secret
    service.credential_issue(lender=lender, issued_by="test")
    service.credential_issue(lender=lender, issued_by="test")
    lender.refresh_from_db()
    assert first not in (lender.postback_secret, lender.postback_secret_previous)
    assert len(service.live_credentials(lender)) == 2


def test_revoking_stops_a_secret_at_once_even_in_a_process_that_kept_it(lender, post_postback):  # noqa: F811
    lead = LeadFactory(listing__product__lender=lender)
    old = lender.postback_secret
    new = service.credential_issue(lender=lender, issued_by="test").secret
    assert send(post_postback, lender, old, lead).status_code == 202
    credential = LenderCredential.objects.get(lender=lender, digest=secret_digest(old))
    service.credential_revoke(credential=credential, revoked_by="test")
    service.credential_revoke(credential=credential, revoked_by="test")  # twice: no change
    assert send(post_postback, lender, old, lead).status_code == 401
    assert send(post_postback, lender, new, lead).status_code == 202
    credential.refresh_from_db()
    assert credential.state() == "revoked"


def test_revoking_the_only_secret_refuses_every_postback(lender, post_postback):  # noqa: F811
    lead = LeadFactory(listing__product__lender=lender)
    service.credential_revoke(credential=lender.postback_credentials.get(), revoked_by="test")
    assert send(post_postback, lender, lender.postback_secret, lead).status_code == 401


def test_last_use_is_written_at_most_once_a_minute_per_lender(lender, post_postback, django_assert_num_queries):  # noqa: F811
    lead = LeadFactory(listing__product__lender=lender)
    assert send(post_postback, lender, lender.postback_secret, lead).status_code == 202
    credential = lender.postback_credentials.get()
    first_use = credential.last_used_at
    assert first_use is not None
    LenderCredential.objects.filter(pk=credential.pk).update(last_used_at=None)
    assert send(post_postback, lender, lender.postback_secret, lead).status_code == 202
    credential.refresh_from_db()
    assert credential.last_used_at is None  # within the minute: not written again


def test_a_handover_link_shows_the_secret_once(lender, client):
    issued = service.credential_issue(lender=lender, issued_by="test")
    token = service.handover_create(credential=issued.credential, created_by="test")
    url = f"/partners/handover/{token}/"
    page = client.get(url)
    assert page.status_code == 200 and issued.secret not in page.content.decode()  # a preview does not burn it
    shown = client.post(url)
    assert shown.status_code == 200 and issued.secret in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    again = client.post(url)
    assert again.status_code == 410 and issued.secret not in again.content.decode()
    assert CredentialHandover.objects.get().token_digest == secret_digest(token)


def test_an_expired_or_revoked_handover_link_shows_nothing(lender):
    issued = service.credential_issue(lender=lender, issued_by="test")
    expired = service.handover_create(credential=issued.credential, created_by="test")
    CredentialHandover.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert service.handover_open(token=expired) is None
    revoked = service.handover_create(credential=issued.credential, created_by="test")
    service.credential_revoke(credential=issued.credential, revoked_by="test")
    assert service.handover_open(token=revoked) is None
    assert service.handover_open(token="made-up") is None
    rotated = service.credential_issue(lender=lender, issued_by="test", overlap=timedelta(0))
    rotated_out = service.handover_create(credential=rotated.credential, created_by="test")
    service.credential_issue(lender=lender, issued_by="test", overlap=timedelta(0))
    assert service.handover_open(token=rotated_out) is None


def test_the_migration_turns_typed_secrets_into_credentials():
    migration = importlib.import_module("apps.lenders.migrations.0008_postback_credentials_issued_by_the_platform")
    lender = Lender.objects.create(code="typed", name="Typed", adapter="embedded", base_url="http://127.0.0.1:9/",
                                   postback_secret="typed-current", postback_secret_previous="typed-previous")
    migration.credentials_from_typed_secrets(django_apps, None)
    rows = {row.secret: row for row in LenderCredential.objects.filter(lender=lender)}
    assert set(rows) == {"typed-current", "typed-previous"}
    assert rows["typed-current"].state() == "active" and rows["typed-previous"].state() == "expiring"
    lender.refresh_from_db()
    assert lender.postback_secret_previous_until == rows["typed-previous"].expires_at


def test_no_secret_reaches_the_logs_or_the_audit_log(lender, caplog, post_postback):  # noqa: F811
    lead = LeadFactory(listing__product__lender=lender)
    issued = service.credential_issue(lender=lender, issued_by="staff:alice")
    token = service.handover_create(credential=issued.credential, created_by="staff:alice")
    send(post_postback, lender, issued.secret, lead)
    service.credential_revoke(credential=issued.credential, revoked_by="staff:alice")
    assert service.handover_open(token=token) is None
    logged = caplog.text + str(list(LogEntry.objects.values_list("changes", "changes_text")))
    assert issued.secret not in logged and token not in logged and issued.credential.digest not in logged
    assert LogEntry.objects.get_for_object(issued.credential).exists()


def test_a_bearer_key_lender_keeps_its_old_key_during_the_overlap(client):
    lender = LenderFactory(postback_auth=Lender.PostbackAuth.API_KEY)
    old = service.credential_issue(lender=lender, issued_by="test").secret
    new = service.credential_issue(lender=lender, issued_by="test").secret
    lead = LeadFactory(listing__product__lender=lender)

    def send(key):
        return client.post("/api/v1/postbacks", {"click_id": lead.tracking_id, "status": "pre_approved"},
                           content_type="application/json", headers={"Authorization": f"Bearer {key}"})

    assert (send(old).status_code, send(new).status_code) == (202, 202)
    service.credential_revoke(credential=LenderCredential.objects.get(digest=secret_digest(old)), revoked_by="test")
    assert (send(old).status_code, send(new).status_code) == (401, 202)
