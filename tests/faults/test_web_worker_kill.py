"""Gunicorn workers SIGKILLed while lenders send postbacks: no acknowledged postback is lost.

gunicorn runs as in production (docker-compose: gthread, 2 workers); a killed worker is
replaced by its master. Lenders send each lead's ladder (pre_approved, approved, disbursed) and
behave as the contract asks: a postback that got no 2xx (its connection died with the worker) is
sent again, signed afresh, with the same event_id. Every event answered 2xx must be stored, every
lead must end disbursed, and no request may be answered 500.
"""

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from apps.leads.models import Lead, LeadStatus
from apps.postbacks import contract
from apps.postbacks.models import PostbackEvent
from prosperas.inbound import signing
from tests.conftest import ROOT, _database_url
from tests.factories import LeadFactory, LenderFactory
from tests.faults.conftest import free_port
from tests.support import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

LENDERS, LEADS_EACH = 4, 5
KILLS = 3
LADDER = ("pre_approved", "approved", "disbursed")


def answers_on(url: str) -> bool:
    try:
        return requests.get(url + contract.PATH, timeout=5).status_code == 405
    except requests.RequestException:
        return False


def gunicorn_workers(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


@pytest.fixture
def production_web(broker_isolation):
    port = free_port()
    log = ROOT / "var" / f"faults-web-{uuid.uuid4().hex[:6]}.log"
    env = {**os.environ, **broker_isolation, "DATABASE_URL": _database_url(), "ALLOWED_HOSTS": "127.0.0.1",
           "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "prosperas.wsgi:application", "-k", "gthread", "-w", "2",
             "--threads", "8", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--no-control-socket"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    try:
        wait_until(lambda: answers_on(url), timeout=40, interval=0.2)
        wait_until(lambda: len(gunicorn_workers(process.pid)) == 2, timeout=20)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_no_acknowledged_postback_is_lost_while_gunicorn_workers_are_killed(production_web):
    url, master = production_web
    lenders = [LenderFactory(postback_secret=secrets.token_hex(32)) for _ in range(LENDERS)]
    leads = {lender.pk: [LeadFactory(listing__product__lender=lender, status=LeadStatus.HANDED_OFF)
                         for _ in range(LEADS_EACH)] for lender in lenders}
    acknowledged: list[str] = []
    answers: Counter = Counter()
    lock = threading.Lock()

    def send(lender, lead, status):
        event_id = f"{lead.tracking_id}-{status}"
        raw_body = contract_body(lead.tracking_id, status, event_id)
        for _ in range(50):
            headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
            try:
                response = requests.post(url + contract.PATH, data=raw_body, headers=headers, timeout=10)
            except requests.RequestException:
                with lock:
                    answers["no answer"] += 1
                time.sleep(0.05)
                continue
            with lock:
                answers[response.status_code] += 1
            if 200 <= response.status_code < 300:
                with lock:
                    acknowledged.append(event_id)
                return
            time.sleep(0.05)  # 429 or a server error: a lender retries
        raise AssertionError(f"{event_id} never acknowledged")

    def lender_sends(lender):
        for lead in leads[lender.pk]:
            for status in LADDER:
                send(lender, lead, status)
                time.sleep(0.05)

    threads = [threading.Thread(target=lender_sends, args=(lender,)) for lender in lenders]
    for thread in threads:
        thread.start()
    kills = 0
    while kills < KILLS and any(thread.is_alive() for thread in threads):
        # One worker killed mid-traffic, then the next kill only once the master has replaced it
        # (a worker takes a few seconds to boot on a busy machine: killing faster would leave
        # none serving, which is an outage, not the fault under test).
        time.sleep(random.uniform(0.1, 0.5))
        workers = gunicorn_workers(master.pid)
        os.kill(random.choice(workers), signal.SIGKILL)
        kills += 1
        wait_until(lambda: len(gunicorn_workers(master.pid)) == 2 and answers_on(url), timeout=30, interval=0.1)
    for thread in threads:
        thread.join()

    stored = set(PostbackEvent.objects.values_list("event_id", flat=True))
    assert set(acknowledged) <= stored, f"acknowledged but lost: {set(acknowledged) - stored}"
    assert len(acknowledged) == LENDERS * LEADS_EACH * len(LADDER)
    all_leads = [lead.pk for group in leads.values() for lead in group]
    assert set(Lead.objects.filter(pk__in=all_leads).values_list("status", flat=True)) == {LeadStatus.DISBURSED}
    assert not [status for status in answers if isinstance(status, int) and status >= 500]
    assert kills >= 3
    print(f"{len(acknowledged)} postbacks acknowledged and stored under {kills} worker kills; answers {dict(answers)}")


def contract_body(click_id: str, status: str, event_id: str) -> bytes:
    import json

    return json.dumps({"click_id": click_id, "status": status, "event_id": event_id}).encode()
