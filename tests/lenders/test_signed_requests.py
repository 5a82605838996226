"""The lenders' key store for signed requests (apps/lenders/signed_requests.py): its statements
called directly."""

from datetime import UTC, datetime

from apps.lenders.models import Lender, PostbackAuthFailure
from apps.lenders.signed_requests import LENDER_KEYS, lender_for_authentication, lender_unchanged, nonce_spend
from prosperas.inbound import auth
from tests.factories import LenderFactory

SEEN_AT = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


def test_a_lender_is_found_by_its_public_key_with_only_what_authentication_reads(db):
    lender = LenderFactory(postback_secret="kept-secret", postback_ip_allowlist="192.0.2.1")
    credentials = LENDER_KEYS.by_public_key(lender.postback_key, fresh=True)
    assert (credentials.sender.pk, credentials.mode, credentials.secrets) == (lender.pk, auth.HMAC, ("kept-secret",))
    assert credentials.allowlist == ("192.0.2.1",) and credentials.kept is False
    assert "credentials" in credentials.sender.get_deferred_fields()
    assert LENDER_KEYS.by_public_key("pk_nobody", fresh=True) is None


def test_an_api_key_lender_is_found_by_its_keys_digest_only_in_api_key_mode(db):
    api_key = "ak_live_" + "y" * 40
    lender = LenderFactory(postback_auth=Lender.PostbackAuth.API_KEY, postback_secret=api_key,
                           postback_api_key_digest=Lender.api_key_digest(api_key))
    assert LENDER_KEYS.by_api_key(api_key, fresh=True).sender.pk == lender.pk
    Lender.objects.filter(pk=lender.pk).update(postback_auth=Lender.PostbackAuth.HMAC)
    assert LENDER_KEYS.by_api_key(api_key, fresh=True) is None


def test_a_read_lender_is_kept_and_its_credentials_checked_unchanged(db, django_assert_num_queries):
    lender = LenderFactory()
    read = lender_for_authentication(column="postback_key", value=lender.postback_key, fresh=True)
    with django_assert_num_queries(0):
        kept = lender_for_authentication(column="postback_key", value=lender.postback_key)
    assert kept.cached and kept.stored == read.stored
    assert lender_unchanged(lender_id=lender.pk, stored=read.stored)
    lender.postback_secret_previous = "rotated-out"
    lender.save()
    assert not lender_unchanged(lender_id=lender.pk, stored=read.stored)


def test_a_nonce_is_spent_once_per_lender_and_use(db):
    lender, other = LenderFactory(), LenderFactory()
    assert nonce_spend(lender_id=lender.pk, nonce="nonce-0001", tester=False, seen_at=SEEN_AT)
    assert not nonce_spend(lender_id=lender.pk, nonce="nonce-0001", tester=False, seen_at=SEEN_AT)
    assert nonce_spend(lender_id=lender.pk, nonce="nonce-0001", tester=True, seen_at=SEEN_AT)  # the tester's set
    assert nonce_spend(lender_id=other.pk, nonce="nonce-0001", tester=False, seen_at=SEEN_AT)


def test_a_refusal_is_counted_with_the_lender_when_known(db):
    lender = LenderFactory()
    LENDER_KEYS.refusal_record(sender=lender, reason="bad_signature", client_ip="192.0.2.1")
    LENDER_KEYS.refusal_record(sender=None, reason="unknown_key", client_ip=None)
    assert set(PostbackAuthFailure.objects.values_list("lender", "reason", "source_ip")) == {
        (lender.pk, "bad_signature", "192.0.2.1"), (None, "unknown_key", None)}
