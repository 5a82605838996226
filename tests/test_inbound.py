"""Reading the request: the client's address behind proxies."""

import pytest
from django.test import RequestFactory

from prosperas.inbound.body import client_ip


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
