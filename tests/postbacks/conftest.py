"""Fixtures for postback tests. Requests are signed with the production signing code."""

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from apps.postbacks import contract
from prosperas.inbound import signing
from tests.conftest import ROOT, _database_url
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


# --- Web processes ------------------------------------------------------------------------------


@dataclass
class WebProcess:
    """A gunicorn server of the platform on a loopback port, seeing the test database."""

    url: str
    process: subprocess.Popen
    log: str


def start_web_processes(env_extra: dict, *, names: list[str], threads: int = 16) -> list[WebProcess]:
    """`gunicorn prosperas.wsgi`, one gthread worker each, on ports the OS picks, started side by
    side and returned once each has answered a request. Data must be committed to be seen
    (transactional_db or live_server)."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "ALLOWED_HOSTS": "127.0.0.1", "PYTHONUNBUFFERED": "1",
           **env_extra}  # env_extra may point the process elsewhere (tests/operations: through a proxy)
    started = []
    for name in names:
        log_path = ROOT / "var" / f"{name}.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "prosperas.wsgi:application", "--bind", "127.0.0.1:0",
             "--workers", "1", "--worker-class", "gthread", "--threads", str(threads), "--graceful-timeout", "5",
             # Every server here would share gunicorn's default control socket path and take it from another.
             "--no-control-socket"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        started.append(WebProcess(url="", process=process, log=str(log_path)))
    try:
        for web in started:
            _wait_ready(web)
    except BaseException:
        for web in started:
            web.process.kill()
        raise
    return started


def _wait_ready(web: WebProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start; see {web.log}")
        found = web.url or re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", Path(web.log).read_text())
        web.url = web.url or (found.group(1) if found else "")
        if web.url and _answers(web.url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become ready; see {web.log}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url + URL, timeout=2).status_code == 405
    except (requests.ConnectionError, requests.Timeout):  # a cold start (first imports) may take longer
        return False


def stop_web_process(web: WebProcess) -> None:
    web.process.terminate()
    try:
        web.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        web.process.kill()


@pytest.fixture(scope="module")
def two_web_processes(django_db_setup, broker_isolation):
    """Two separate gunicorn servers of the platform, started side by side, for the module."""
    suffix = uuid.uuid4().hex[:6]
    webs = start_web_processes(broker_isolation, names=[f"testweb{index}-{suffix}" for index in (1, 2)])
    yield webs
    for web in webs:
        stop_web_process(web)
