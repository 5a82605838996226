"""A loopback HTTP server that plays an origin's callback endpoint: it verifies each request with
the `standardwebhooks` library (as an origin would) and answers the status codes it is told to,
keeping what it received."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: dict | None  # None: the signature did not verify
    at: float


@dataclass
class CallbackReceiver:
    secrets_known: list[str] = field(default_factory=list)  # the origin verifies with these
    answers: list[int] = field(default_factory=list)  # status codes to answer, in turn; then 204
    received: list[Received] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24).replace("-", "a").replace("_", "b") + "9Z")
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/hooks/prosperas/{self.token}"

    def verified(self) -> list[dict]:
        return [item.payload for item in self.received if item.payload is not None]

    def wait_for(self, predicate, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.verified()):
                return self.verified()
            time.sleep(0.02)
        raise AssertionError(f"no such callbacks within {timeout} s: {[p['type'] for p in self.verified()]}")

    def _verify(self, headers: dict[str, str], body: bytes) -> dict | None:
        for secret in self.secrets_known:
            try:
                return Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
        return None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                receiver.received.append(Received(headers=headers, body=body, at=time.time(),
                                                  payload=receiver._verify(headers, body)
                                                  if self.path.endswith(receiver.token) else None))
                status = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def payload_types(payloads: list[dict]) -> list[tuple[str, str]]:
    return [(p["type"], p["data"].get("status") if p["type"] == "lead.status_changed" else p["data"]["lenderCode"])
            for p in payloads]


def as_json(received: Received) -> dict:
    return json.loads(received.body)
