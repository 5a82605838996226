"""Retention (apps/lifecycle, each app's retention.py): the purge acts on exactly what its dry run
listed, keeps the ledger and aggregates, and touches nothing within retention."""

import io
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.campaigns.models import Campaign, LedgerEntry
from apps.campaigns.services import lead_delivery_record
from apps.leads.models import Consent, Decision, Lead, LeadEvent, LeadExtraData, Offer
from apps.leads.reports import funnel_report
from apps.lenders.models import LenderCall, PostbackAuthFailure, PostbackNonce
from apps.lifecycle import services as lifecycle
from apps.lifecycle.tasks import purge_expired_data
from apps.postbacks.models import PostbackEvent
from prosperas import celery_config
from prosperas.retention import purge_batch_apply
from tests.factories import LeadFactory, shelf_with

DAY = timedelta(days=1)
IDS_LINE = re.compile(r"^  (\S+) (\S+) (\S+) ids: (.*)$")


@dataclass
class World:
    now: object
    deletable: Lead  # outside any campaign: nothing counts it
    started_only: Lead  # of a campaign, abandoned before identity: no decision, no charge
    counted: Lead  # of a campaign, with a decision the funnel report counts
    charged: Lead  # never handed off, but the ledger has it (compare-mode delivery)
    reported: Lead  # never handed off, but a postback event refers to it
    handed_off: Lead
    recent: Lead
    old_call: LenderCall
    recent_call: LenderCall
    old_event: PostbackEvent
    due_follow_up_event: PostbackEvent
    recent_event: PostbackEvent
    old_refusal: PostbackAuthFailure
    recent_refusal: PostbackAuthFailure
    old_nonce: PostbackNonce
    fresh_nonce: PostbackNonce


def _age(model, obj, **moments) -> None:
    model.objects.filter(pk=obj.pk).update(**moments)  # update(): auto_now fields keep what is given


def _call(lead, *, started_at, body="{\"doc\": \"••••4050\"}") -> LenderCall:
    return LenderCall.objects.create(
        lender=lead.lender, lead=lead, capability="prequalify", attempt=1, idempotency_key=f"k-{lead.pk}",
        outcome="approved", http_status=200, request_method="POST", request_url="http://127.0.0.1:9/x",
        request_body=body, response_body=body, started_at=started_at, finished_at=started_at, duration_ms=120,
    )


def _event(lead, *, received_at, followed_up=True) -> PostbackEvent:
    event = PostbackEvent.objects.create(
        lender=lead.lender, lead=lead, click_id=lead.tracking_id, status="approved", occurred_at=received_at,
        effect="applied", raw_body=b'{"click_id": "x"}', headers={"User-Agent": "lender"}, nonce=f"nonce-{secrets.token_hex(8)}",
        metadata={"branch": "norte"}, followed_up_at=received_at if followed_up else None,
    )
    _age(PostbackEvent, event, received_at=received_at)
    return event


def _world(settings) -> World:
    settings.RETENTION_DAYS = {"abandoned_leads": 180, "lender_call_bodies": 90, "postback_bodies": 90,
                               "refused_requests": 90}
    now = timezone.now()
    shelf = shelf_with(price_per_lead=Decimal("1000"), budget=Decimal("100000"), starts_at=now - 400 * DAY)
    personal = {"document_number": "1020304050", "full_name": "Ana Pérez", "email": "ana@example.com",
                "phone": "3001234567", "birth_date": "1990-05-17"}

    def lead(status, **fields):
        return LeadFactory(origin=shelf.origin, listing=shelf.listing, status=status,
                           **{"campaign": shelf.campaign, **personal, **fields})

    deletable = lead("offered", campaign=None)
    decision = Decision.objects.create(lead=deletable, lender=deletable.lender, outcome="approved")
    offer = Offer.objects.create(decision=decision, lender_offer_id="o1", amount=1_000_000, term_months=12,
                                 monthly_payment=95_000, annual_rate=Decimal("0.25"))
    Lead.objects.filter(pk=deletable.pk).update(chosen_offer=offer)
    LeadEvent.objects.create(lead=deletable, kind="started", status="new")
    Consent.objects.create(lead=deletable, kind="terms", text_version="1", accepted_at=now - 200 * DAY)
    LeadExtraData.objects.create(lead=deletable, values={"address_line": "Calle 10"})
    deletable_call = _call(deletable, started_at=now - 200 * DAY)

    started_only = lead("new", document_number="", full_name="", email="", phone="", birth_date="")
    counted = lead("not_eligible")
    Decision.objects.create(lead=counted, lender=counted.lender, outcome="rejected")
    charged = lead("decision_failed")
    lead_delivery_record(lead=charged, campaign=shelf.campaign, now=now - 200 * DAY)
    LeadExtraData.objects.create(lead=charged, values={"address_line": "Calle 11"})
    reported = lead("submitted")
    handed_off = lead("handed_off", handed_off_at=now - 200 * DAY)
    recent = lead("offered")
    for old in (deletable, started_only, counted, charged, reported, handed_off):
        _age(Lead, old, created_at=now - 200 * DAY, updated_at=now - 181 * DAY)
    _age(Lead, recent, created_at=now - 200 * DAY, updated_at=now - 179 * DAY)

    old_event = _event(reported, received_at=now - 91 * DAY)
    refusal_old = PostbackAuthFailure.objects.create(lender=shelf.listing.product.lender, reason="bad_signature")
    refusal_recent = PostbackAuthFailure.objects.create(lender=shelf.listing.product.lender, reason="stale_timestamp")
    _age(PostbackAuthFailure, refusal_old, hour=now - 91 * DAY)
    _age(PostbackAuthFailure, refusal_recent, hour=now - 89 * DAY)
    lender = shelf.listing.product.lender
    nonce_old = PostbackNonce.objects.create(lender=lender, nonce="old-nonce-1", seen_at=now - timedelta(minutes=11))
    nonce_fresh = PostbackNonce.objects.create(lender=lender, nonce="fresh-nonce", seen_at=now - timedelta(minutes=9))
    assert deletable_call.pk  # deleted with its lead
    return World(
        now=now, deletable=deletable, started_only=started_only, counted=counted, charged=charged, reported=reported, handed_off=handed_off, recent=recent,
        old_call=_call(handed_off, started_at=now - 91 * DAY), recent_call=_call(handed_off, started_at=now - 89 * DAY),
        old_event=old_event, due_follow_up_event=_event(handed_off, received_at=now - 91 * DAY, followed_up=False),
        recent_event=_event(handed_off, received_at=now - 89 * DAY),
        old_refusal=refusal_old, recent_refusal=refusal_recent, old_nonce=nonce_old, fresh_nonce=nonce_fresh,
    )


def _listed(output: str) -> dict[tuple[str, str], set[int]]:
    listed: dict[tuple[str, str], set[int]] = {}
    for line in output.splitlines():
        match = IDS_LINE.match(line)
        if match:
            kind, action, _, ids = match.groups()
            listed.setdefault((kind, action), set()).update(int(pk) for pk in ids.split(", "))
    return listed


def _run(*args) -> str:
    out = io.StringIO()
    call_command("purge_data", *args, "-v", "2", stdout=out)
    return out.getvalue()


def _snapshot() -> dict:
    tables = [Lead, LenderCall, PostbackEvent, PostbackAuthFailure, PostbackNonce, LedgerEntry, Campaign,
              LeadExtraData, Decision, Offer, Consent, LeadEvent]
    return {model: {row["id"]: row for row in model.objects.values()} for model in tables}


@pytest.mark.django_db
def test_the_purge_acts_on_exactly_what_its_dry_run_listed_and_keeps_the_ledger(settings):
    world = _world(settings)
    as_of = ["--as-of", world.now.isoformat()]
    before = _snapshot()
    report_before = funnel_report(date_from=(world.now - 400 * DAY).date(), date_to=world.now.date())

    dry_run = _run("--dry-run", "--batch-size", "1", *as_of)  # one row a batch: the walk resumes right
    listed = _listed(dry_run)
    assert listed == {
        ("postback_bodies", "blank"): {world.old_event.pk},
        ("lender_call_bodies", "blank"): {world.old_call.pk, *LenderCall.objects.filter(
            lead=world.deletable).values_list("pk", flat=True)},
        ("refused_requests", "delete"): {world.old_refusal.pk},
        ("signed_request_nonces", "delete"): {world.old_nonce.pk},
        ("abandoned_leads", "anonymise"): {world.counted.pk, world.charged.pk, world.reported.pk},
        ("abandoned_leads", "delete"): {world.deletable.pk, world.started_only.pk},
    }
    assert _snapshot() == before  # the dry run touched nothing
    assert "abandoned_leads: would delete 2 leads.Lead" in dry_run

    purged = _run("--batch-size", "2", *as_of)
    assert _listed(purged) == listed
    assert "abandoned_leads: deleted 2 leads.Lead" in purged

    after = _snapshot()
    assert after[LedgerEntry] == before[LedgerEntry] and after[LedgerEntry]  # the ledger, row for row
    assert after[Campaign] == before[Campaign]  # its running totals
    report_after = funnel_report(date_from=(world.now - 400 * DAY).date(), date_to=world.now.date())
    assert [(r.key, r.counts, r.spend) for r in report_after.rows] == [
        (r.key, r.counts, r.spend) for r in report_before.rows]

    # Deleted: the lead and everything that hung from it; nothing else.
    assert set(before[Lead]) - set(after[Lead]) == {world.deletable.pk, world.started_only.pk}
    for model in (Decision, Offer, Consent, LeadEvent):
        assert set(before[model]) - set(after[model]) == {
            pk for pk, row in before[model].items() if row.get("lead_id", world.deletable.pk) == world.deletable.pk
        }
    assert set(before[PostbackAuthFailure]) - set(after[PostbackAuthFailure]) == {world.old_refusal.pk}
    assert set(before[PostbackNonce]) - set(after[PostbackNonce]) == {world.old_nonce.pk}

    # Anonymised: personal data gone, the rest of the row as it was.
    for pk in (world.counted.pk, world.charged.pk, world.reported.pk):
        row, was = after[Lead][pk], before[Lead][pk]
        changed = {name for name in row if row[name] != was[name]}
        assert changed == {"document_number", "full_name", "email", "phone", "birth_date"}
        assert all(row[name] == "" for name in changed)
    assert set(before[LeadExtraData]) - set(after[LeadExtraData]) == {
        pk for pk, row in before[LeadExtraData].items() if row["lead_id"] != world.recent.pk}

    # Blanked: bodies only.
    call, was = after[LenderCall][world.old_call.pk], before[LenderCall][world.old_call.pk]
    assert (call["request_body"], call["response_body"]) == ("", "")
    assert {k: v for k, v in call.items() if not k.endswith("_body")} == {
        k: v for k, v in was.items() if not k.endswith("_body")}
    event = after[PostbackEvent][world.old_event.pk]
    assert (bytes(event["raw_body"]), event["headers"], event["nonce"], event["metadata"]) == (b"", {}, "", {})
    assert (event["status"], event["click_id"], event["lead_id"]) == ("approved", world.reported.tracking_id,
                                                                     world.reported.pk)

    # Within retention (or still due to follow up): untouched, row for row.
    untouched = {
        Lead: [world.handed_off.pk, world.recent.pk],
        LenderCall: [world.recent_call.pk],
        PostbackEvent: [world.recent_event.pk, world.due_follow_up_event.pk],
        PostbackAuthFailure: [world.recent_refusal.pk], PostbackNonce: [world.fresh_nonce.pk],
    }
    for model, pks in untouched.items():
        for pk in pks:
            assert _normal(after[model][pk]) == _normal(before[model][pk]), (model, pk)

    # A second run finds nothing.
    assert _listed(_run("--dry-run", *as_of)) == {}


def _normal(row: dict) -> dict:
    return {key: bytes(value) if isinstance(value, memoryview) else value for key, value in row.items()}


@pytest.mark.django_db
def test_a_row_that_changed_after_the_dry_run_is_left(settings):
    world = _world(settings)
    purge = next(p for p in lifecycle.PURGES if p.kind == "abandoned_leads" and p.action == "delete")

    Lead.objects.filter(pk=world.deletable.pk).update(updated_at=timezone.now())  # the consumer came back
    assert purge_batch_apply(purge, [world.deletable.pk], now=world.now) == []
    assert Lead.objects.filter(pk=world.deletable.pk).exists()


@pytest.mark.django_db
def test_a_retention_of_zero_days_keeps_that_kind_for_ever(settings):
    world = _world(settings)
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "abandoned_leads": 0}

    output = _run("--dry-run", "--as-of", world.now.isoformat())

    assert "abandoned_leads: kept for ever" in output
    assert not any(kind == "abandoned_leads" for kind, _ in _listed(output))


def test_beat_runs_the_purge_daily():
    entry = celery_config.beat_schedule["purge-expired-data"]
    assert entry["task"] == purge_expired_data.name
    assert entry["schedule"].hour == {3}


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_purges_in_a_real_worker(settings, celery_worker):
    world = _world(settings)

    purge_expired_data.delay()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Lead.objects.filter(pk=world.deletable.pk).exists():
        time.sleep(0.2)
    assert not Lead.objects.filter(pk=world.deletable.pk).exists()
    assert not PostbackAuthFailure.objects.filter(pk=world.old_refusal.pk).exists()
    assert Lead.objects.get(pk=world.charged.pk).full_name == ""
    assert LedgerEntry.objects.filter(lead=world.charged).count() == 1
    assert Lead.objects.filter(pk__in=[world.recent.pk, world.handed_off.pk]).count() == 2
