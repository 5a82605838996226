import time

import pytest

from apps.origins.services import DeepLinkPrefill, DeepLinkRefused, deep_link_sign, deep_link_verify
from tests.factories import OriginFactory

SECRET = "origin-deep-link-secret"


def _signed(**params: str) -> dict[str, str]:
    return {**params, "sig": deep_link_sign(secret=SECRET, params=params)}


@pytest.fixture
def origin(db):
    return OriginFactory(deep_link_secret=SECRET)


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
    origin = OriginFactory(deep_link_secret="")

    with pytest.raises(DeepLinkRefused, match="no deep link secret"):
        deep_link_verify(origin=origin, params=_signed(ref="X"))
