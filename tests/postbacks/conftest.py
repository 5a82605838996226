"""Fixtures for postback tests. Requests are signed with the production signing code."""

import json
import secrets

import pytest

from apps.postbacks import contract, signing
from tests.factories import LeadFactory, LenderFactory

URL = contract.PATH


@pytest.fixture
def lender(db):
    return LenderFactory(postback_secret="s3cret-" + secrets.token_hex(16))


@pytest.fixture
def lead(lender):
    return LeadFactory(listing__product__lender=lender)


def body_bytes(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def signed(lender, raw_body: bytes, *, secret=None, timestamp=None, nonce=None) -> dict[str, str]:
    """The headers a lender sends, minus Content-Type (the test client takes it apart)."""
    headers = signing.signed_headers(
        key=lender.postback_key, secret=secret or lender.postback_secret, raw_body=raw_body,
        timestamp=timestamp, nonce=nonce,
    )
    headers.pop("Content-Type")
    return headers


@pytest.fixture
def post_postback(client):
    """POST a signed postback through Django's test client: post_postback(lender, payload, ...)."""

    def post(lender, payload, *, secret=None, timestamp=None, nonce=None, headers=None,
             content_type="application/json", **extra):
        raw_body = body_bytes(payload)
        all_headers = {
            **signed(lender, raw_body, secret=secret, timestamp=timestamp, nonce=nonce),
            # As a header too: the test client leaves content_type out when the body is empty.
            "Content-Type": content_type,
            **(headers or {}),
        }
        return client.post(URL, data=raw_body, content_type=content_type, headers=all_headers, **extra)

    return post
