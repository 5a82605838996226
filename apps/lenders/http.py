"""HTTP to lenders: one place for timeouts, the hard deadline, and classifying failures.

The failures an adapter raises are defined here, where HTTP answers are classified into them;
apps/lenders/adapters/base.py, the adapter contract, presents them to adapters and the engine.

requests' read timeout is per socket read, so a lender trickling bytes could hold a call far
past its timeout, and Celery's threads pool ignores task time limits (STACK-NOTES.md). So every
request streams its body and checks a monotonic deadline after each chunk: an attempt ends at
the lender's timeout plus at most one short read, whatever the pool.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
import urllib3
from django.conf import settings

from prosperas.inbound.body import json_storable

CONNECT_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = "Prosperas-Platform/1.0"
# Header names whose values are secrets: an Exchange keeps them masked, so nothing that stores
# or logs an exchange can leak a lender's credentials.
SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|signature|password|cookie", re.IGNORECASE)

# The connections to lenders, kept open between calls and shared by every thread of the process.
# A worker's threads take turns (Celery's threads pool hands each task to the next idle thread),
# so a pool per thread would almost never hold a live connection to the lender a task calls: each
# call would connect anew, and in production shake hands over TLS anew. urllib3's pools are
# thread-safe; a call holds its connection until the answer is read, then gives it back. Up to
# CONNECTIONS_KEPT_PER_HOST idle connections are kept per lender host, as many as a worker's
# threads (a fan-out may open more to one host at once: those are closed when their call ends).
LENDER_HOSTS_KEPT = 100
CONNECTIONS_KEPT_PER_HOST = 120
_connections = requests.adapters.HTTPAdapter(
    pool_connections=LENDER_HOSTS_KEPT, pool_maxsize=CONNECTIONS_KEPT_PER_HOST, max_retries=0,
)
_sessions = threading.local()


def lender_connections_close() -> None:
    """Close every kept connection (the pools stay usable: the next call connects anew)."""
    _connections.close()


# A forked child (Celery's prefork pool) must not share its parent's sockets.
os.register_at_fork(after_in_child=lender_connections_close)


def _session() -> requests.Session:
    # requests.Session is not thread-safe (its cookies, its settings): each thread keeps its own,
    # all of them sending through the process's shared connections.
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.mount("https://", _connections)
        session.mount("http://", _connections)
        session.headers["User-Agent"] = USER_AGENT
        session.trust_env = bool(urllib.request.getproxies())
        if not session.trust_env:
            session.verify = _environment_ca_bundle() or True
        _sessions.session = session
    return session


def _environment_ca_bundle() -> str | None:
    """The CA bundle the environment names, as requests would read it.

    With trust_env (requests' default) each request scans the whole environment for proxies
    and looks for a .netrc file: a measurable share of a lender call's CPU when a hundred run at
    once in one process. Lenders are reached directly unless a proxy is configured, so the
    environment is read once, when the thread's session is made: its CA bundle (which many
    containers set) becomes the session's `verify`, and only a proxy makes the session trust
    the environment on every call.
    """
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


def encode_json(data: Any) -> bytes:
    """JSON as the client sends it: compact, UTF-8."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def effective_timeout(timeout_seconds: float) -> float:
    """The lender's timeout, shortened only where settings say so (tests, the demo)."""
    cap = settings.LENDER_TIMEOUT_CAP_SECONDS
    return min(timeout_seconds, cap) if cap else timeout_seconds


@dataclass
class Exchange:
    """One HTTP request and its answer, as sent and received (the caller masks before storing)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    duration_ms: int = 0
    error: str = ""


class AdapterError(Exception):
    """Base of the failures an adapter raises; `exchange` is the HTTP exchange, if one happened.
    `permanent` says whether retrying could help."""

    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, exchange: Exchange | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.details = details or []


class TechnicalFailure(AdapterError):
    """Timeout, connection error, 5xx, 429, unparseable body: worth retrying."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentFailure(AdapterError):
    """Auth refused, or the lender says our data is invalid: retrying would not help."""

    permanent = True


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]
    exchange: Exchange

    def json(self) -> Any:
        """The body's JSON, which the lender's answer is kept as: one the database cannot hold (a NUL
        character, half a surrogate pair, a number beyond a double) is as unreadable as no JSON."""
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise TechnicalFailure(
                f"Lender answered HTTP {self.status} with a body that is not JSON.", exchange=self.exchange
            ) from exc
        if not json_storable(data):
            raise TechnicalFailure(f"Lender answered HTTP {self.status} with JSON that cannot be stored "
                                   "(a NUL character, an unpaired surrogate or a number beyond a double).",
                                   exchange=self.exchange)
        return data

    def retry_after_seconds(self) -> float | None:
        value = self.headers.get("Retry-After")
        if not value:
            return None
        if value.strip().isdigit():
            return float(value.strip())
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; any other JSON (a list, a string) is unparseable too."""
        data = self.json()
        if not isinstance(data, dict):
            raise TechnicalFailure(
                f"Lender answered HTTP {self.status} with JSON that is not an object.", exchange=self.exchange
            )
        return data

    def raise_for_transport_status(self) -> None:
        """The status codes whose meaning is the same for every lender."""
        if self.status == 429 or self.status == 408 or self.status >= 500:
            raise TechnicalFailure(
                f"Lender answered HTTP {self.status}.", retry_after=self.retry_after_seconds(), exchange=self.exchange
            )
        if self.status in (401, 403):
            raise PermanentFailure(f"Lender refused our credentials (HTTP {self.status}).", exchange=self.exchange)


class LenderHttpClient:
    """Sends JSON to one lender's API with a hard per-attempt deadline. Keeps every exchange."""

    def __init__(self, *, base_url: str, timeout_seconds: float):
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = effective_timeout(timeout_seconds)
        self.exchanges: list[Exchange] = []
        self.deadline: float | None = None

    def start_attempt(self) -> None:
        """One deadline covers every HTTP call of an attempt (a token call, then the real one)."""
        self.deadline = time.monotonic() + self.timeout_seconds
        self.exchanges = []

    def request(
        self, method: str, path: str, *, json_body: Any = None, form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None, raw_json: bytes | None = None,
    ) -> HttpResponse:
        """One request. `raw_json` sends JSON already encoded: a signature over the raw body
        (HMAC) must cover exactly the bytes sent (use `encode_json` to make them)."""
        if self.deadline is None:
            self.start_attempt()
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        send_headers = {"Accept": "application/json", **(headers or {})}
        body: bytes | None = None
        if raw_json is not None:
            body = raw_json
            send_headers["Content-Type"] = "application/json"
        elif json_body is not None:
            body = encode_json(json_body)
            send_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(dict(form)).encode()
            send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        recorded_body = body.decode("utf-8", "replace") if body else ""
        if form is not None and json_body is None and raw_json is None:
            recorded_body = urllib.parse.urlencode(_masked_form(form))  # a token request's client_secret
        exchange = Exchange(
            method=method, url=url, request_headers=_masked_headers(send_headers), request_body=recorded_body,
        )
        self.exchanges.append(exchange)
        started = time.monotonic()
        try:
            status, response_headers, content = self._send(method, url, body, send_headers)
        except TechnicalFailure as failure:
            exchange.error = failure.message
            failure.exchange = exchange
            raise
        finally:
            exchange.duration_ms = int((time.monotonic() - started) * 1000)
        exchange.status = status
        exchange.response_headers = dict(response_headers)
        exchange.response_body = _mask_secret_fields(content.decode("utf-8", "replace"))
        return HttpResponse(status=status, body=content, headers=response_headers, exchange=exchange)

    def _remaining(self) -> float:
        assert self.deadline is not None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TechnicalFailure(f"No answer within the {self.timeout_seconds:g} s deadline.")
        return remaining

    def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, requests.structures.CaseInsensitiveDict, bytes]:
        remaining = self._remaining()
        try:
            response = _session().request(
                method, url, data=body, headers=dict(headers), stream=True, allow_redirects=False,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, remaining), remaining),
            )
        except requests.Timeout as exc:
            raise TechnicalFailure(f"No answer within the {self.timeout_seconds:g} s deadline.") from exc
        except requests.RequestException as exc:
            raise TechnicalFailure(f"Connection failed: {type(exc).__name__}.") from exc
        try:
            body = self._read_body(response)
        except BaseException:
            response.close()  # part of an answer is left unread: the connection cannot carry another call
            raise
        # Read to its end: the connection goes back to the pool for the next call. (Closing the
        # response would close the connection too, since requests did not read the stream itself.)
        response.raw.release_conn()
        return response.status_code, response.headers, body

    def _read_body(self, response: requests.Response) -> bytes:
        """Read the body in chunks, never past the deadline.

        Each socket read may block at most until the deadline (the socket's timeout is lowered
        before every read), so a lender trickling bytes ends the attempt at the deadline rather
        than one full read timeout after it. Content-Encoding (gzip) is decoded here, since
        streaming bypasses requests' own decoding; the size limit applies to the decoded body.
        """
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                _set_read_timeout(response, self._remaining())
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise TechnicalFailure("Lender's answer is larger than 2 MiB.")
                chunks.append(chunk)
        except (urllib3.exceptions.ReadTimeoutError, socket.timeout) as exc:
            raise TechnicalFailure(f"No complete answer within the {self.timeout_seconds:g} s deadline.") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TechnicalFailure(f"Connection failed while reading the answer: {type(exc).__name__}.") from exc
        return b"".join(chunks)


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Lower the socket timeout of a streaming response to what is left of the deadline.

    urllib3 exposes the connection (`HTTPResponse.connection`) but not a setter for the read
    timeout of a response already under way; if the socket cannot be reached (another urllib3),
    the read timeout set at the request stays, and the deadline is checked between chunks.
    """
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def _masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: ("***" if SECRET_HEADER.search(name) else value) for name, value in headers.items()}


def _masked_form(form: Mapping[str, str]) -> dict[str, str]:
    """A token request's form as recorded: client_secret and password never reach LenderCall."""
    return {name: ("***" if SECRET_HEADER.search(name) else value) for name, value in form.items()}


def _mask_secret_fields(text: str) -> str:
    """A JSON answer as recorded: the value of every secret-looking key (access_token...) masked.
    Adapters parse the raw bytes; only the recorded copy is masked."""
    if "token" not in text.lower() and "secret" not in text.lower():
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_mask_secret_json(data), ensure_ascii=False, separators=(",", ":"))


def _mask_secret_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            key: ("***" if SECRET_HEADER.search(str(key)) and not isinstance(value, (dict, list)) else _mask_secret_json(value))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_mask_secret_json(item) for item in data]
    return data
