"""The lender HTTP client against a real loopback server that trickles, resets, or answers garbage."""

import gzip
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.lenders.adapters.base import PermanentFailure, TechnicalFailure
from apps.lenders.http import LenderHttpClient


class MisbehavingLender(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = getattr(self, "route_" + self.path.strip("/").replace("-", "_"), None)
        if route is None:
            return self.answer(404, b'{"error": "no route"}')
        route(body)

    do_GET = do_POST

    def answer(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_trickle(self, body):
        """Headers at once, then one byte a second: each read succeeds, the whole never ends."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.flush()
        try:
            for _ in range(20):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass
        self.close_connection = True

    def route_one_byte_then_silence(self, body):
        """One byte just before the deadline, then nothing: the read after it must not get a
        full read timeout of its own."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.flush()
        try:
            time.sleep(1.5)
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(5)
        except OSError:
            pass
        self.close_connection = True

    def route_reset(self, body):
        """Close with SO_LINGER 0: the client gets a TCP reset instead of an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # release makefile's reference so close() really closes the socket
        self.connection.close()
        self.close_connection = True

    def route_garbage(self, body):
        self.answer(200, b"<html><body>Service temporarily unavailable</body></html>", content_type="text/html")

    def route_rate_limited(self, body):
        self.answer(429, b'{"error": "slow down"}', headers=[("Retry-After", "7")])

    def route_gzip(self, body):
        self.answer(200, gzip.compress(b'{"decision": "approved"}'), headers=[("Content-Encoding", "gzip")])

    def route_echo(self, body):
        payload = {"body": body.decode(), "content_type": self.headers.get("Content-Type"),
                   "api_key": self.headers.get("X-Api-Key")}
        self.answer(200, json.dumps(payload).encode())

    def route_unauthorized(self, body):
        self.answer(401, b'{"error": "bad key"}')

    def route_who(self, body):
        """Which of our connections the request came on: the client's port."""
        self.answer(200, json.dumps({"port": self.client_address[1]}).encode())

    def route_then_close(self, body):
        """An answer, then the connection closed (as a lender's keep-alive timeout would)."""
        self.answer(200, json.dumps({"port": self.client_address[1]}).encode(), headers=[("Connection", "close")])
        self.close_connection = True


@pytest.fixture
def lender_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), MisbehavingLender)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(lender_server, settings):
    settings.LENDER_TIMEOUT_CAP_SECONDS = 2.0
    return LenderHttpClient(base_url=lender_server, timeout_seconds=15)


def test_the_deadline_holds_against_a_lender_trickling_one_byte_a_second(client):
    started = time.monotonic()
    with pytest.raises(TechnicalFailure) as failure:
        client.request("POST", "/trickle", json_body={"trackingId": "t-1"})
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed <= 2.6, f"attempt lasted {elapsed:.2f} s against a 2 s deadline"
    assert "deadline" in failure.value.message
    assert failure.value.exchange is not None and failure.value.exchange.error


def test_a_read_started_just_before_the_deadline_ends_at_the_deadline(client):
    started = time.monotonic()
    with pytest.raises(TechnicalFailure, match="deadline"):
        client.request("POST", "/one-byte-then-silence", json_body={})
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed <= 2.6, f"attempt lasted {elapsed:.2f} s against a 2 s deadline"


def test_a_connection_reset_is_a_technical_failure(client):
    with pytest.raises(TechnicalFailure) as failure:
        client.request("POST", "/reset", json_body={"trackingId": "t-1"})
    assert "Connection failed" in failure.value.message
    assert failure.value.exchange.status is None


def test_a_garbage_body_is_a_technical_failure_when_read_as_json(client):
    response = client.request("POST", "/garbage", json_body={})
    assert response.status == 200
    with pytest.raises(TechnicalFailure, match="not JSON"):
        response.json()


def test_a_429_carries_the_lenders_retry_after(client):
    response = client.request("POST", "/rate-limited", json_body={})
    with pytest.raises(TechnicalFailure) as failure:
        response.raise_for_transport_status()
    assert failure.value.retry_after == 7.0


def test_a_401_is_a_permanent_failure(client):
    response = client.request("POST", "/unauthorized", json_body={})
    with pytest.raises(PermanentFailure):
        response.raise_for_transport_status()


def test_a_gzip_encoded_answer_is_decoded(client):
    assert client.request("GET", "/gzip").json() == {"decision": "approved"}


def test_form_bodies_are_url_encoded(client):
    echoed = client.request("POST", "/echo", form={"grant_type": "client_credentials", "scope": "a b"}).json()
    assert echoed["body"] == "grant_type=client_credentials&scope=a+b"
    assert echoed["content_type"] == "application/x-www-form-urlencoded"


def test_the_recorded_exchange_masks_secret_headers_but_sends_them(client):
    response = client.request("POST", "/echo", json_body={"a": 1}, headers={"X-Api-Key": "sk-live-123"})
    assert response.json()["api_key"] == "sk-live-123"
    assert response.exchange.request_headers["X-Api-Key"] == "***"
    assert response.exchange.request_body == '{"a":1}'


def _port_from_a_thread(base_url: str, path: str = "/who") -> int:
    """One call (one attempt: a client of its own) made from a new thread; the port it came from."""
    ports = []

    def call():
        ports.append(LenderHttpClient(base_url=base_url, timeout_seconds=15).request("POST", path, json_body={}).json()["port"])

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    return ports[0]


def test_calls_from_different_threads_share_one_kept_connection(lender_server):
    """A worker's threads take turns: the connection one call opened carries the next, whichever
    thread makes it (in production, no new TLS handshake per call)."""
    ports = {_port_from_a_thread(lender_server) for _ in range(5)}
    assert len(ports) == 1


def test_a_connection_the_lender_closed_is_replaced_without_a_failure(lender_server):
    first = _port_from_a_thread(lender_server, "/then-close")
    time.sleep(0.1)
    assert _port_from_a_thread(lender_server) != first


def test_a_connection_left_mid_answer_is_not_used_again(client, lender_server):
    """The kept connection carries the trickling call, which ends at the deadline with part of the
    answer unread: that connection is closed, and the next calls share a new one."""
    before = _port_from_a_thread(lender_server)
    with pytest.raises(TechnicalFailure):
        client.request("POST", "/trickle", json_body={})
    after = {_port_from_a_thread(lender_server) for _ in range(2)}
    assert len(after) == 1 and before not in after
