"""prosperas/inbound/auth.py on its own: the checks in order and the verifier table, over a key
store given in (here a plain one in memory; the lenders' is tested through the endpoints)."""

from dataclasses import dataclass, field

import pytest

from prosperas.inbound import auth, signing
from prosperas.inbound.auth import Credentials
from prosperas.inbound.refusals import AuthenticationRefused

BODY = b'{"click_id":"x","status":"approved"}'


@dataclass
class MemoryKeyStore:
    """Senders by public key and by bearer key; refusals and nonces kept in lists."""

    by_key: dict[str, Credentials] = field(default_factory=dict)
    by_bearer: dict[str, Credentials] = field(default_factory=dict)
    refusals: list[tuple] = field(default_factory=list)
    presented: list[str] = field(default_factory=list)  # the key each refusal was counted under
    nonces: set[tuple] = field(default_factory=set)
    def by_public_key(self, public_key, *, fresh):
        return self.by_key.get(public_key)

    def by_api_key(self, api_key, *, fresh):
        return self.by_bearer.get(api_key)

    def refusal_record(self, *, sender, reason, client_ip, key="", headers=None, raw_body=b""):
        self.refusals.append((sender, reason, client_ip))
        self.presented.append(key)

    def nonce_spend(self, *, sender, nonce, tester=False):
        new = (sender, nonce, tester) not in self.nonces
        self.nonces.add((sender, nonce, tester))
        return new


def hmac_sender(secret="s3cret", **extra) -> Credentials:
    return Credentials(sender="acme", name="acme", mode=auth.HMAC, secrets=(secret,), **extra)


def signed(secret="s3cret", key="pk_acme", body=BODY):
    return signing.signed_headers(key=key, secret=secret, raw_body=body)


def test_a_signed_request_is_verified_and_its_nonce_handed_back_unspent():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    headers = signed()
    verified = auth.authenticate(store, headers=headers, raw_body=BODY, client_ip="192.0.2.1")
    assert (verified.sender, verified.nonce) == ("acme", headers[signing.HEADER_NONCE])
    assert store.nonces == set() and store.refusals == []


@pytest.mark.parametrize(("change", "reason"), [
    ({signing.HEADER_KEY: "pk_nobody"}, "unknown_key"),
    ({signing.HEADER_TIMESTAMP: "yesterday"}, "bad_timestamp"),
    ({signing.HEADER_TIMESTAMP: "2020-01-01T00:00:00Z"}, "stale_timestamp"),
    ({signing.HEADER_NONCE: "short"}, "bad_nonce"),
    ({signing.HEADER_SIGNATURE: "A" * 64}, "bad_signature"),
    ({signing.HEADER_SIGNATURE: "0" * 64}, "bad_signature"),
])
def test_each_refusal_has_its_reason_and_is_counted(change, reason):
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    with pytest.raises(AuthenticationRefused) as raised:
        auth.authenticate(store, headers={**signed(), **change}, raw_body=BODY, client_ip="192.0.2.1")
    assert raised.value.reason == reason
    sender = None if reason == "unknown_key" else "acme"
    assert store.refusals == [(sender, reason, "192.0.2.1")]


def test_no_credentials_at_all_is_missing_headers():
    with pytest.raises(AuthenticationRefused) as raised:
        auth.authenticate(MemoryKeyStore(), headers={}, raw_body=BODY, client_ip=None)
    assert raised.value.reason == "missing_headers" and signing.HEADER_SIGNATURE in raised.value.message


def test_during_a_rotation_both_secrets_verify():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    store.by_key["pk_acme"] = Credentials(sender="acme", name="acme", mode=auth.HMAC, secrets=("new", "old"))
    for secret in ("new", "old"):
        auth.authenticate(store, headers=signed(secret=secret), raw_body=BODY, client_ip=None)


def test_a_sender_without_secrets_is_refused_rather_than_verified_against_nothing():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    store.by_key["pk_acme"] = Credentials(sender="acme", name="acme", mode=auth.HMAC, secrets=())
    with pytest.raises(AuthenticationRefused) as raised:
        auth.authenticate(store, headers=signed(), raw_body=BODY, client_ip=None)
    assert raised.value.reason == "unknown_key"


def test_the_allowlist_is_matched_exactly():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender(allowlist=("192.0.2.1",))})
    auth.authenticate(store, headers=signed(), raw_body=BODY, client_ip="192.0.2.1")
    with pytest.raises(AuthenticationRefused) as raised:
        auth.authenticate(store, headers=signed(), raw_body=BODY, client_ip="192.0.2.2")
    assert raised.value.reason == "address_not_allowed"


def test_api_key_senders_present_their_key_as_a_bearer_token():
    sender = Credentials(sender="acme", name="acme", mode=auth.API_KEY, secrets=("key-123",))
    store = MemoryKeyStore(by_bearer={"key-123": sender})
    verified = auth.authenticate(store, headers={"Authorization": "Bearer key-123"}, raw_body=BODY, client_ip=None)
    assert (verified.sender, verified.nonce) == ("acme", "")


def test_a_refusal_on_a_kept_copy_is_decided_again_on_fresh_credentials():
    class RotatedStore(MemoryKeyStore):
        """This process kept the old secret; staff have set a new one since."""

        def by_public_key(self, public_key, *, fresh):
            return hmac_sender(secret="new") if fresh else hmac_sender(secret="old", kept=True)

    store = RotatedStore()
    verified = auth.authenticate(store, headers=signed(secret="new"), raw_body=BODY, client_ip=None)
    assert verified.credentials.kept is False and store.refusals == []
    with pytest.raises(AuthenticationRefused):
        auth.authenticate(store, headers=signed(secret="wrong"), raw_body=BODY, client_ip=None)
    assert store.refusals == [("acme", "bad_signature", None)]  # decided again fresh, counted once


def test_spending_the_nonce_at_once_refuses_a_replay_and_counts_it():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    headers = signed()
    auth.authenticate_spending_nonce(store, headers=headers, raw_body=BODY, client_ip=None)
    with pytest.raises(AuthenticationRefused) as raised:
        auth.authenticate_spending_nonce(store, headers=headers, raw_body=BODY, client_ip=None)
    assert raised.value.reason == "replayed_nonce"
    assert store.refusals == [("acme", "replayed_nonce", None)]


def test_a_refusal_is_counted_under_the_key_it_named_and_a_bearer_key_never_in_clear():
    store = MemoryKeyStore(by_key={"pk_acme": hmac_sender()})
    with pytest.raises(AuthenticationRefused):
        auth.authenticate(store, headers={**signed(), signing.HEADER_SIGNATURE: "0" * 64}, raw_body=BODY, client_ip=None)
    with pytest.raises(AuthenticationRefused):
        auth.authenticate(store, headers={"Authorization": "Bearer s3cret-api-key"}, raw_body=BODY, client_ip=None)
    assert store.presented[0] == "pk_acme"
    assert store.presented[1].startswith("bearer:") and "s3cret" not in store.presented[1]
