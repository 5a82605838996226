"""Pages outside the consumer flow keep the content security policy too: no inline styles."""

import pytest

from tests.factories import LenderFactory


def _assert_strict_policy(response):
    policy = response["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<style" not in response.content.decode()


@pytest.mark.django_db
def test_the_lender_postback_docs_page_keeps_the_policy_and_has_no_inline_styles(client):
    response = client.get("/docs/postbacks/")

    assert response.status_code == 200
    _assert_strict_policy(response)
    assert "/static/postbacks/docs.css" in response.content.decode()


@pytest.mark.django_db
def test_the_sandbox_portal_keeps_the_policy_and_has_no_inline_styles(client):
    lender = LenderFactory()

    response = client.get(f"/sandbox/portal/{lender.code}/sign", {"ref": "APP-1", "click_id": "abc"})

    assert response.status_code == 200
    _assert_strict_policy(response)
    assert "/static/sandbox/portal.css" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/static/postbacks/docs.css", "/static/sandbox/portal.css"])
def test_their_stylesheets_are_served(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert b"main {" in b"".join(response.streaming_content)
