"""prosperas/inbound/views.py: the base view's pipeline, refusals and negotiation, on a view of
the test's own (the postback and product endpoints are tested as themselves)."""

import json

import pytest
from django.test import RequestFactory
from rest_framework.response import Response

from prosperas.inbound import signing
from prosperas.inbound.refusals import AuthenticationRefused, InboundRefused, validation_refusal
from prosperas.inbound.views import SignedInboundView

BODY = json.dumps({"hello": "world"}).encode()


def only_good_key(*, headers, raw_body, client_ip):
    if headers.get(signing.HEADER_KEY) != "good":
        raise AuthenticationRefused("unknown_key", sender=None)
    return ("sender", raw_body, client_ip)


class EchoView(SignedInboundView):
    authenticate = staticmethod(only_good_key)
    www_authenticate = 'Test realm="test"'
    refusal_fields = {"echo": True}

    def post(self, request):
        received = self.receive(request._request)
        if "bad" in received.data:
            raise validation_refusal({"bad": ["No."]}, what="echo")
        return Response({"who": received.authenticated[0], "data": received.data, "ip": received.client_ip})


def call(body=BODY, *, content_type="application/json", key="good", **extra):
    request = RequestFactory().post("/echo", data=body, content_type=content_type,
                                    headers={signing.HEADER_KEY: key}, REMOTE_ADDR="192.0.2.7", **extra)
    response = EchoView.as_view()(request)
    if hasattr(response, "render"):
        response.render()
    return response.status_code, json.loads(response.content), response


def test_an_authenticated_json_object_reaches_the_handler():
    status, body, _ = call()
    assert (status, body) == (200, {"who": "sender", "data": {"hello": "world"}, "ip": "192.0.2.7"})


@pytest.mark.parametrize(("kwargs", "status", "error"), [
    ({"body": b"x" * (64 * 1024 + 1)}, 413, "too_large"),
    ({"content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"key": "bad"}, 401, "unknown_key"),
    ({"body": b"[1]"}, 400, "validation_error"),
    ({"body": b'{"bad": 1}'}, 400, "validation_error"),
], ids=["size", "content_type", "authentication", "not_an_object", "handler_refusal"])
def test_each_step_refuses_with_its_own_status_in_order(kwargs, status, error):
    got_status, body, response = call(**kwargs)
    assert (got_status, body["error"], body["echo"]) == (status, error, True)
    if status == 401:
        assert response["WWW-Authenticate"] == 'Test realm="test"'


def test_a_body_too_large_is_refused_before_authentication():
    status, body, _ = call(b"x" * (64 * 1024 + 1), key="bad")
    assert (status, body["error"]) == (413, "too_large")


def test_answers_are_json_whatever_the_accept_header():
    status, _, response = call(key="bad", HTTP_ACCEPT="text/html")
    assert status == 401 and response["Content-Type"].startswith("application/json")


def test_a_refusal_body_names_its_fields_only_when_it_has_them():
    assert InboundRefused(415, "unsupported_media_type", "JSON, please.").body() == {
        "error": "unsupported_media_type", "message": "JSON, please."}
    refusal = validation_refusal({"a": ["x"], "b": ["y"]}, what="thing")
    assert refusal.body() == {"error": "validation_error", "message": "The thing has invalid fields: a, b.",
                              "fields": {"a": ["x"], "b": ["y"]}}
