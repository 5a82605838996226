import time

import pytest

import base64
import hashlib
import json

from cryptography.fernet import Fernet

from apps.origins.services import (
    DEEP_LINK_TOKEN_MAX_AGE_SECONDS,
    DeepLinkPrefill,
    DeepLinkRefused,
    deep_link_receive,
    deep_link_sign,
    deep_link_token_make,
    deep_link_verify,
)
from tests.factories import OriginFactory

SECRET = "origin-deep-link-secret"


def _signed(**params: str) -> dict[str, str]:
    return {**params, "sig": deep_link_sign(secret=SECRET, params=params)}


@pytest.fixture
def origin(db):
    return OriginFactory(deep_link_secret=SECRET)


@pytest.fixture
def legacy_origin(db):
    return OriginFactory(deep_link_secret=SECRET, deep_link_legacy_plain=True)


# --- The encrypted form: ?prefill=<Fernet token> ----------------------------------------------


def test_an_encrypted_prefill_made_as_the_docs_say_gives_its_values(origin):
    """The documented recipe, written out with nothing of ours: key = base64url(SHA-256(secret))."""
    key = base64.urlsafe_b64encode(hashlib.sha256(SECRET.encode()).digest())
    payload = {"ref": "MOV-991", "name": "Ana Pérez", "phone": "3001234567", "exp": int(time.time()) + 60}
    token = Fernet(key).encrypt(json.dumps(payload).encode()).decode()

    prefill = deep_link_receive(origin=origin, params={"prefill": token})

    assert prefill == DeepLinkPrefill("MOV-991", "Ana Pérez", "3001234567")
    assert "Ana" not in token and "3001234567" not in token


def test_a_prefill_made_with_another_key_or_tampered_is_refused(origin):
    other = deep_link_token_make(secret="another-origin", name="Ana")
    tampered = deep_link_token_make(secret=SECRET, name="Ana")[:-4] + "AAAA"

    for token in (other, tampered, "not-a-token"):
        with pytest.raises(DeepLinkRefused, match="does not decrypt"):
            deep_link_receive(origin=origin, params={"prefill": token})


def test_an_expired_or_too_old_encrypted_prefill_is_refused(origin):
    expired = deep_link_token_make(secret=SECRET, name="Ana", exp=int(time.time()) - 1)
    with pytest.raises(DeepLinkRefused, match="expired"):
        deep_link_receive(origin=origin, params={"prefill": expired})

    old = deep_link_token_make(secret=SECRET, name="Ana")
    with pytest.raises(DeepLinkRefused, match="too old"):
        deep_link_receive(origin=origin, params={"prefill": old},
                          now=time.time() + DEEP_LINK_TOKEN_MAX_AGE_SECONDS + 120)


@pytest.mark.parametrize("payload, reason", [
    ([1, 2], "not an object"),
    ({"name": "Ana", "email": "a@b.co"}, "not an object of ref, name, phone"),
    ({"name": 7}, "not a string"),
    ({"name": "A" * 129}, "not a string of at most 128"),
    ({"exp": "tomorrow"}, "exp is not Unix seconds"),
])
def test_an_encrypted_prefill_holds_only_what_the_contract_says(origin, payload, reason):
    token = Fernet(base64.urlsafe_b64encode(hashlib.sha256(SECRET.encode()).digest())).encrypt(
        json.dumps(payload).encode()).decode()

    with pytest.raises(DeepLinkRefused, match=reason):
        deep_link_receive(origin=origin, params={"prefill": token})


def test_plain_values_beside_an_encrypted_prefill_are_refused(legacy_origin):
    token = deep_link_token_make(secret=SECRET, name="Ana")
    with pytest.raises(DeepLinkRefused, match="plain parameters beside"):
        deep_link_receive(origin=legacy_origin, params={"prefill": token, "phone": "3001234567"})


# --- The legacy plain form, only behind the origin's switch ------------------------------------


def test_a_plain_prefill_is_refused_while_the_origins_legacy_switch_is_off(origin):
    assert origin.deep_link_legacy_plain is False  # the default
    params = _signed(ref="MOV-991", name="Ana Pérez", phone="3001234567")

    with pytest.raises(DeepLinkRefused, match="legacy deep links are off"):
        deep_link_receive(origin=origin, params=params)


def test_a_plain_signed_prefill_is_accepted_with_the_legacy_switch_on(legacy_origin):
    params = _signed(ref="MOV-991", name="Ana Pérez", phone="3001234567")

    assert deep_link_receive(origin=legacy_origin, params=params) == DeepLinkPrefill("MOV-991", "Ana Pérez",
                                                                                     "3001234567")


def test_a_correctly_signed_link_gives_its_prefill(origin):
    params = _signed(ref="MOV-991", name="Ana Pérez", phone="3001234567", exp=str(int(time.time()) + 60))

    assert deep_link_verify(origin=origin, params=params) == DeepLinkPrefill("MOV-991", "Ana Pérez", "3001234567")


def test_the_signature_covers_every_value(origin):
    params = _signed(ref="MOV-991", name="Ana Pérez")
    params["name"] = "Ana Perez"

    with pytest.raises(DeepLinkRefused, match="bad signature"):
        deep_link_verify(origin=origin, params=params)


def test_unsigned_parameters_added_later_are_refused_not_ignored(origin):
    params = _signed(ref="MOV-991")
    params["phone"] = "3009999999"

    with pytest.raises(DeepLinkRefused, match="bad signature"):
        deep_link_verify(origin=origin, params=params)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"ref": "A"}, "missing signature"),
        ({"ref": "A", "sig": "00" * 32}, "bad signature"),
        ({}, "no prefill"),
    ],
)
def test_missing_or_wrong_signatures_are_refused_with_a_reason(origin, params, reason):
    with pytest.raises(DeepLinkRefused, match=reason):
        deep_link_verify(origin=origin, params=params)


def test_an_expired_link_is_refused(origin):
    params = _signed(ref="MOV-991", exp=str(int(time.time()) - 1))

    with pytest.raises(DeepLinkRefused, match="expired"):
        deep_link_verify(origin=origin, params=params)


@pytest.mark.django_db
def test_an_origin_without_a_secret_accepts_no_prefill():
    origin = OriginFactory(deep_link_secret="", deep_link_legacy_plain=True)

    with pytest.raises(DeepLinkRefused, match="no deep link secret"):
        deep_link_verify(origin=origin, params=_signed(ref="X"))
    with pytest.raises(DeepLinkRefused, match="no deep link secret"):
        deep_link_receive(origin=origin, params={"prefill": deep_link_token_make(secret="", name="Ana")})


@pytest.mark.django_db
def test_prefill_kept_in_clear_by_earlier_sessions_is_dropped_and_the_rest_kept():
    import importlib

    from django.apps import apps as registry
    from django.contrib.sessions.backends.db import SessionStore

    migration = importlib.import_module("apps.origins.migrations.0004_clear_deep_link_prefill_out_of_sessions")
    old, current = SessionStore(), SessionStore()
    old.update({"flow_prefill": {"movilco": {"reference": "R", "name": "Ana Pérez", "phone": "3001234567"},
                                 "billeteraya": "gAAAA-an-encrypted-token"}, "flow_owned": ["t1"]})
    current.update({"flow_prefill": {"movilco": "gAAAA-another-token"}})
    old.save(), current.save()

    migration.drop_clear_prefill(registry, None)

    assert SessionStore(old.session_key).load() == {"flow_prefill": {"billeteraya": "gAAAA-an-encrypted-token"},
                                                    "flow_owned": ["t1"]}
    assert SessionStore(current.session_key).load() == {"flow_prefill": {"movilco": "gAAAA-another-token"}}
