"""Reading the request: the client's address behind proxies, and bodies sent chunked."""

import io

import pytest
from django.test import RequestFactory

from prosperas.inbound.body import body_read, client_ip
from prosperas.inbound.refusals import InboundRefused


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.4", "192.168.0.2"),
        (1, "198.51.100.4", "198.51.100.4"),
        (1, "10.9.9.9, 198.51.100.4", "198.51.100.4"),
        (2, "10.9.9.9, 198.51.100.4, 192.168.0.1", "198.51.100.4"),
        (2, "198.51.100.4", None),  # fewer hops than trusted proxies: not through them
        (1, "not-an-address", None),
        (1, "", None),
    ],
)
def test_the_client_address_is_counted_from_the_right_of_x_forwarded_for(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post("/", REMOTE_ADDR="192.168.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected


def _chunked_request(*, terminated: bool):
    request = RequestFactory().post("/", data=b'{"a": 1}', content_type="application/json",
                                    HTTP_TRANSFER_ENCODING="chunked")
    del request.META["CONTENT_LENGTH"]
    request.META["wsgi.input"] = io.BytesIO(b'{"a": 1}')  # as a server's dechunked input reads
    if terminated:
        request.META["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_is_read_from_a_server_that_ends_the_input_with_it():
    assert body_read(_chunked_request(terminated=True)) == b'{"a": 1}'


def test_a_chunked_body_from_a_server_that_cannot_end_the_input_is_refused_with_411():
    with pytest.raises(InboundRefused) as refused:
        body_read(_chunked_request(terminated=False))
    assert (refused.value.status, refused.value.error) == (411, "length_required")


def test_a_chunked_body_over_the_limit_is_refused_as_too_large():
    with pytest.raises(InboundRefused) as refused:
        body_read(_chunked_request(terminated=True), limit=4)
    assert refused.value.status == 413
