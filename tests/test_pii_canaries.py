"""PII canaries: whole journeys with unique, recognisable personal values, then a search for them.

One journey per lender API style (the sandbox lenders, over real HTTP on loopback), each walked
through the flow's views by a browser session that arrives on an origin's encrypted deep link,
with the lender calls made by a real Celery worker (threads pool, embedded beat) and a signed
postback that sets off the consumer's email (kept in the demo's outbox). Every value the
consumer gave is a canary: its name, document number, phone, email, income (monthly and yearly,
plain and with thousands separators), birth date and home address. The test fails if any of
them is found in clear in:

- the logs: the worker's log file under var/ and this process's logging (the web side and the
  sandbox lenders);
- the broker: every message this process published (task arguments and headers, captured as
  they leave) and every Redis key of this run's prefix, sampled all along while tasks are queued
  and unacknowledged (message bodies decoded from the transport's base64);
- the database: every text, character, JSON and bytea column of every table, and the session
  rows decoded as Django reads them (a signed session is readable by anyone with the row);
- the stored lender exchanges, which are database rows too, named separately in the report.
"""

from __future__ import annotations

import base64
import json
import random
import string
import threading
import uuid
from dataclasses import dataclass, field

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client

from apps.leads.models import Decision, Lead, LeadNotification, LeadStatus, OutboxMessage
from apps.lenders.models import LenderCall
from apps.origins.services import deep_link_token_make
from apps.postbacks import contract
from prosperas.inbound import signing
from tests.conftest import ROOT, start_worker, stop_worker
from tests.factories import ListingFactory, OriginFactory, publish
from tests.lenders.conftest import STYLES
from tests.support import wait_until

pytestmark = pytest.mark.worker

ORIGIN_SECRET = "canary-origin-deep-link-secret"
# Where a journey rests once the lender has taken the application (or handed its offer's URL).
SUBMITTED = {LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF}


def _letters(count: int) -> str:
    return "".join(random.choice(string.ascii_lowercase) for _ in range(count))


def _digits(count: int) -> str:
    return "".join(random.choice(string.digits) for _ in range(count))


@dataclass
class Canary:
    """A consumer's personal values, unique to this run, and every spelling to look for."""

    first_name: str = field(default_factory=lambda: "Quil" + _letters(6))
    last_name: str = field(default_factory=lambda: "Vorn" + _letters(6))
    document: str = field(default_factory=lambda: "8" + _digits(9))
    mobile: str = field(default_factory=lambda: "3" + _digits(9))
    email_local: str = field(default_factory=lambda: "canary." + _letters(10))
    # Above every sandbox's rejection line, never ending in the sandboxes' "pending" 777.
    income: int = field(default_factory=lambda: int("4" + _digits(5) + "1"))
    birth_date: str = field(
        default_factory=lambda: f"19{random.randint(60, 99)}-0{random.randint(1, 9)}-1{random.randint(1, 9)}")
    address: str = field(default_factory=lambda: f"Calle {random.randint(10, 99)} Sur # {_letters(8).title()} 12-30")

    @property
    def full_name(self) -> str:
        return f"{self.first_name.title()} {self.last_name.title()}"

    @property
    def email(self) -> str:
        return f"{self.email_local}@example.com"

    def spellings(self) -> dict[str, str]:
        """Each needle, named. Case is ignored when searching."""
        year, month, day = self.birth_date.split("-")
        yearly = self.income * 12
        return {
            "full name": self.full_name, "first name": self.first_name, "last name": self.last_name,
            "document number": self.document, "phone": self.mobile, "email": self.email,
            "email's local part": self.email_local, "monthly income": str(self.income),
            "monthly income with separators": f"{self.income:,}",
            "monthly income with dots": f"{self.income:,}".replace(",", "."),
            "yearly income": str(yearly), "yearly income with separators": f"{yearly:,}",
            "birth date": self.birth_date, "birth date (MM/dd/yyyy)": f"{month}/{day}/{year}",
            "address": self.address, "address's street": self.address.split("#")[1].split()[0],
        }


class Findings:
    """Where each canary was found, by place."""

    def __init__(self, canaries: list[Canary]):
        self.needles = {value.lower(): f"{name} of journey {index}"
                        for index, canary in enumerate(canaries) for name, value in canary.spellings().items()}
        self.found: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def scan(self, place: str, text: str) -> None:
        lowered = text.lower()
        for needle, name in self.needles.items():
            if needle in lowered:
                with self.lock:
                    self.found.setdefault(place, set()).add(name)

    def report(self) -> str:
        return "\n".join(f"{place}: {', '.join(sorted(names))}" for place, names in sorted(self.found.items()))


# --- The broker: what this process publishes, and what sits in Redis under this run's prefix --------


def _message_text(raw: bytes | str) -> str:
    """A Redis value as text, with a kombu message's base64 body decoded (the body is the task's
    arguments)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        envelope = json.loads(text)
    except ValueError:
        return text
    if isinstance(envelope, list) and envelope and isinstance(envelope[0], (str, dict)):
        envelope = envelope[0] if isinstance(envelope[0], dict) else _try_json(envelope[0])  # unacked: [message, ...]
    if isinstance(envelope, dict) and isinstance(envelope.get("body"), str):
        try:
            text += " " + base64.b64decode(envelope["body"]).decode("utf-8", "replace")
        except ValueError:
            pass
    return text


def _try_json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


class RedisSampler(threading.Thread):
    """Reads every key of this run's broker prefix every few milliseconds, until stopped."""

    def __init__(self, prefix: str, findings: Findings):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.prefix, self.findings = prefix, findings
        self.stopping = threading.Event()
        self.values_seen = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sample()
            self.stopping.wait(0.02)
        self.sample()

    def sample(self) -> None:
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=500):
            for value in self._values(key):
                self.values_seen += 1
                self.findings.scan(f"redis key {key.decode()}", _message_text(value))

    def _values(self, key: bytes) -> list:
        kind = self.client.type(key).decode()
        if kind == "list":
            return self.client.lrange(key, 0, -1)
        if kind == "hash":
            return list(self.client.hgetall(key).values())
        if kind == "zset":
            return self.client.zrange(key, 0, -1)
        if kind == "set":
            return list(self.client.smembers(key))
        if kind == "string":
            return [self.client.get(key) or b""]
        return []


# --- The database ------------------------------------------------------------------------------


TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY")


def scan_database(findings: Findings) -> int:
    """Every text-like column of every table, as stored; returns how many values were read."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type = ANY(%s) ORDER BY table_name, column_name",
            [list(TEXT_TYPES)])
        columns = cursor.fetchall()
    read = 0
    quote = connection.ops.quote_name
    for table, column, data_type in columns:
        expression = f"encode({quote(column)}, 'escape')" if data_type == "bytea" else f"{quote(column)}::text"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {expression} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL")
            for (value,) in cursor.fetchall():
                read += 1
                findings.scan(f"column {table}.{column}", value)
    # The session row is signed, not encrypted: what it holds is readable by anyone with the row.
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session")
        for (data,) in cursor.fetchall():
            findings.scan("django_session decoded", json.dumps(SessionStore().decode(data), ensure_ascii=False))
    return read


# --- The journeys --------------------------------------------------------------------------------


def identity_form(canary: Canary) -> dict[str, str]:
    """Everything any lender may ask on the identity page; the form keeps what this one declared."""
    return {
        "document_type": "CC", "document_number": canary.document, "full_name": canary.full_name,
        "monthly_income": f"{canary.income:,}".replace(",", "."), "accept_terms": "on", "accept_privacy": "on",
        "accept_data_processing": "on", "birth_date": canary.birth_date, "region": "CO-DC",
        "requested_amount": "3000000", "email": canary.email, "employment_status": "employed",
        "address_line": canary.address, "city": "Bogotá", "postal_code": "110111",
    }


def walk_journey(client: Client, origin, listing, canary: Canary) -> Lead:
    """Deep link, catalog, identity, the lender's decision, an offer, the details, the hand-off."""
    link = deep_link_token_make(secret=ORIGIN_SECRET, name=canary.full_name, phone=canary.mobile,
                                reference=f"REF-{uuid.uuid4().hex[:8]}")
    assert client.get(f"/o/{origin.code}/", {"prefill": link}).status_code == 302
    started = client.post(f"/o/{origin.code}/start", {"listing_id": listing.listing_id})
    assert started.status_code == 303, started.status_code
    lead = Lead.objects.get(public_token=started["Location"].split("/")[2])
    page = f"/j/{lead.public_token}/"
    identity = client.post(page + "identity", identity_form(canary))
    assert identity.status_code == 303, identity.content.decode()[:2000]
    wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.OFFERED, timeout=30)
    offer = Decision.objects.get(lead=lead).offers.order_by("amount").first()
    chosen = client.post(page + "offer", {"offer": offer.pk})
    assert chosen.status_code == 303
    if chosen["Location"].endswith("/details"):
        details = client.post(page + "details", {"email": canary.email, "phone": f"+57 {canary.mobile}"})
        assert details.status_code == 303, details.content.decode()[:2000]
    wait_until(lambda: Lead.objects.get(pk=lead.pk).status in SUBMITTED, timeout=30)
    client.get(page + "handoff")
    for step in ("status", "state"):
        client.get(page + step)
    return Lead.objects.select_related("lender").get(pk=lead.pk)


def lender_reports_approval(client: Client, lead: Lead) -> None:
    raw_body = json.dumps({"click_id": lead.tracking_id, "status": "approved"}).encode()
    headers = signing.signed_headers(key=lead.lender.postback_key, secret=lead.lender.postback_secret,
                                     raw_body=raw_body)
    response = client.post(contract.PATH, data=raw_body, content_type=headers.pop("Content-Type"), headers=headers)
    assert response.status_code == 202, response.content


@pytest.fixture
def published():
    """Every task message this process publishes, as sent (headers and body: the task's arguments)."""
    messages: list[str] = []

    def capture(body=None, headers=None, **kwargs):
        messages.append(json.dumps({"headers": headers, "body": body}, default=str, ensure_ascii=False))

    before_task_publish.connect(capture, weak=False)
    yield messages
    before_task_publish.disconnect(capture)


def canary_market(sandbox_of, *, compare_mode: bool = False):
    """An origin (with a deep link secret) shown one listing of a sandbox lender of each style."""
    origin = OriginFactory(deep_link_secret=ORIGIN_SECRET, compare_mode=compare_mode)
    listings = []
    for style in STYLES:
        sandbox = sandbox_of(style)
        sandbox.script("", pending_seconds=0.2)
        listing = ListingFactory(product=sandbox.product)
        publish(listing=listing, origin=origin)
        listings.append(listing)
    return origin, listings


class Run:
    """A real worker with its beat (emails to the outbox), and the broker watched, for a block of
    journeys; then every place searched."""

    def __init__(self, broker_isolation: dict, canaries: list[Canary]):
        self.findings = Findings(canaries)
        self.sampler = RedisSampler(broker_isolation["CELERY_BROKER_KEYPREFIX"], self.findings)
        self.name = f"testworker-canary-{uuid.uuid4().hex[:6]}"
        self.env = {**broker_isolation, "EMAIL_BACKEND": "apps.leads.outbox.OutboxEmailBackend",
                    "POSTBACK_FOLLOW_UP_INTERVAL_SECONDS": "0.5"}

    def __enter__(self) -> Run:
        self.sampler.start()
        self.worker = start_worker(self.env, name=self.name, beat=True)
        return self

    def __exit__(self, *exc_info) -> None:
        stop_worker(self.worker)
        self.sampler.stopping.set()
        self.sampler.join(timeout=10)

    def search_everywhere(self, published: list[str], caplog) -> None:
        findings = self.findings
        assert published and self.sampler.values_seen > 0  # the broker was watched while in use
        log_path = ROOT / "var" / f"{self.name}.log"
        findings.scan(f"worker log {log_path.name}", log_path.read_text())
        findings.scan("this process's log", caplog.text)
        for message in published:
            findings.scan("a published task message", message)
        for call in LenderCall.objects.select_related("lender"):
            findings.scan(f"stored lender exchange ({call.lender.adapter} {call.capability})",
                          " ".join([call.request_url, call.request_body, call.response_body, call.error]))
        assert scan_database(findings) > 100
        assert not findings.found, "Personal data in clear:\n" + findings.report()


def assert_journey_kept(lead: Lead, canary: Canary) -> None:
    """The journey happened with the canaries: the deep link taken, the values stored (and read
    back decrypted)."""
    assert lead.origin_reference.startswith("REF-")
    assert (lead.full_name, lead.document_number, lead.monthly_income) == (canary.full_name, canary.document,
                                                                            canary.income)


def test_no_canary_is_kept_in_clear_anywhere(sandbox_of, broker_isolation, published, caplog):
    caplog.set_level("DEBUG")
    canaries = [Canary() for _ in STYLES]
    origin, listings = canary_market(sandbox_of)

    with Run(broker_isolation, canaries) as run:
        leads = [walk_journey(Client(), origin, listing, canary) for listing, canary in zip(listings, canaries)]
        for lead in leads:
            lender_reports_approval(Client(), lead)
        # Every email sent: each consumer's consent receipt and the approval's news.
        wait_until(lambda: LeadNotification.objects.filter(state="sent", lead_status="approved").count() == len(leads)
                   and not LeadNotification.objects.exclude(state="sent").exists(), timeout=30)

    for lead, canary in zip(leads, canaries):
        assert_journey_kept(lead, canary)
    assert {call.lender.adapter for call in LenderCall.objects.select_related("lender")} == set(STYLES)
    assert sorted(LeadNotification.objects.values_list("lead_status", flat=True)) == (
        ["approved"] * len(leads) + ["consent_receipt"] * len(leads))
    assert OutboxMessage.objects.count() == 2 * len(leads)  # one email each, once
    run.search_everywhere(published, caplog)


def test_no_canary_is_kept_in_clear_after_a_compare_mode_journey(sandbox_of, broker_isolation, published, caplog):
    """Compare mode asks every lender at once, through the engine's own SQL reads of the journey."""
    caplog.set_level("DEBUG")
    canary = Canary()
    origin, listings = canary_market(sandbox_of, compare_mode=True)
    embedded = next(listing for listing in listings if listing.product.lender.adapter == "embedded")

    with Run(broker_isolation, [canary]) as run:
        client = Client()
        link = deep_link_token_make(secret=ORIGIN_SECRET, name=canary.full_name, phone=canary.mobile,
                                    reference=f"REF-{uuid.uuid4().hex[:8]}")
        client.get(f"/o/{origin.code}/", {"prefill": link})
        started = client.post(f"/o/{origin.code}/start")
        lead = Lead.objects.get(public_token=started["Location"].split("/")[2])
        page = f"/j/{lead.public_token}/"
        assert client.post(page + "identity", identity_form(canary)).status_code == 303
        wait_until(lambda: Decision.objects.filter(lead=lead).exclude(outcome="pending").count() == len(STYLES),
                   timeout=30)
        client.get(page + "decision")
        offer = Decision.objects.get(lead=lead, lender=embedded.product.lender).offers.first()
        assert client.post(page + "offer", {"offer": offer.pk}).status_code == 303
        details = client.post(page + "details", {"email": canary.email, "phone": f"+57 {canary.mobile}"})
        assert details.status_code == 303
        wait_until(lambda: Lead.objects.get(pk=lead.pk).status in SUBMITTED, timeout=30)
        client.get(page + "handoff")
        lead = Lead.objects.select_related("lender").get(pk=lead.pk)
        lender_reports_approval(Client(), lead)
        wait_until(lambda: LeadNotification.objects.filter(state="sent").count() == 1, timeout=30)

    assert_journey_kept(lead, canary)
    assert {call.lender.adapter for call in LenderCall.objects.select_related("lender")} == set(STYLES)
    run.search_everywhere(published, caplog)


# --- The search itself finds what is there (so a clean result means something) -----------------


def test_the_database_search_finds_a_canary_in_a_plain_column_and_in_a_session(db):
    from apps.leads.models import LeadEvent
    from tests.factories import LeadFactory

    canary = Canary()
    findings = Findings([canary])
    LeadEvent.objects.create(lead=LeadFactory(), kind=LeadEvent.Kind.RETRY, status="new", message=canary.email)
    session = SessionStore()
    session["prefill"] = {"name": canary.full_name}
    session.save()

    scan_database(findings)

    assert findings.found == {"column leads_leadevent.message": {"email of journey 0",
                                                                 "email's local part of journey 0"},
                              "django_session decoded": {"full name of journey 0", "first name of journey 0",
                                                         "last name of journey 0"}}


def test_the_broker_search_finds_a_canary_in_a_queued_tasks_arguments(broker_isolation, published):
    from prosperas.celery import app as celery_app

    canary = Canary()
    findings = Findings([canary])
    sampler = RedisSampler(broker_isolation["CELERY_BROKER_KEYPREFIX"], findings)
    celery_app.send_task("canary.nobody_runs_this", kwargs={"document": canary.document}, queue="canary-queue")

    sampler.sample()
    for message in published:
        findings.scan("a published task message", message)

    assert findings.found == {f"redis key {broker_isolation['CELERY_BROKER_KEYPREFIX']}canary-queue":
                              {"document number of journey 0"},
                              "a published task message": {"document number of journey 0"}}
    sampler.client.delete(f"{broker_isolation['CELERY_BROKER_KEYPREFIX']}canary-queue")
