"""The year-like database of bench/scale.py, built by SQL (INSERT ... SELECT generate_series).
(A package, not bench/scale_data.py, so that `make bench`, which runs every bench/*.py, leaves it.)

A database of `leads` leads has 5 lender calls and 5 postback events per lead, a decision per
decided lead (an offer per approval), a ledger charge per campaign lead and two timeline events
per lead, spread over the last 365 days. Every lead number n (1..leads) decides its own row from
b = (n - 1) % 100, so that every 100 leads hold the same mix:

    b  0-29  new (left before identity)        b 65-79  handed off, no word yet
    b 30-34  decision failed (technical)       b 80-84  rejected by the lender
    b 35-49  not eligible                      b 85-89  approved
    b 50-64  offered (left at the offers)      b 90-96  disbursed; b 97-99 cancelled

The lenders' shares are uneven (35, 25, 20, 12, 8 %), per hundred leads. Encrypted columns hold the ciphertext of
one made-up consumer, encrypted once with the bench's key, so admin pages decrypt them. Lender
call bodies are kept for the last 30 days only (older ones emptied, as retention does).

What is due now is the same in every database, whatever its size: WAITING leads waiting on a
lender with no news (the sweep's work) and the follow-ups `follow_ups_seed` adds before each
measure. What grows is the history only.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from bench.admin_size import _pick
from bench.lifecycle import insert_series

ORIGINS = 4
LENDER_SHARES = (35, 25, 20, 12, 8)  # percent of the leads
CALLS_PER_LEAD = EVENTS_PER_LEAD = 5
WAITING = 50  # leads waiting on a lender, their task lost: what every sweep finds
BODY_DAYS = 30
CONSUMER = {"document_number": "1020304050", "full_name": "Ana María Pérez", "email": "ana@example.com",
            "phone": "3001234567", "birth_date": "1990-04-12", "monthly_income": 3_500_000}

BUCKET = "((n - 1) % 100)"
YEAR_MINUTES = 524160


def _age(n: str, leads: int) -> str:
    """Lead number n's moment in the last year, at least two hours ago (what is recent is added on
    purpose: WAITING, the follow-ups): the later the number, the later the moment, as leads are
    numbered in production. Each table is then also written in time order (ORDER BY below), so a
    day's rows lie together on disk as an append-only history's do: spread over the whole table
    they made every read of a period read pages of the whole year."""
    return f"(now() - interval '2 hours' - ((({leads} - {n}) * {YEAR_MINUTES} / {leads}) * interval '1 minute'))"
STATUS = (f"CASE WHEN {BUCKET} < 30 THEN 'new' WHEN {BUCKET} < 35 THEN 'decision_failed' "
          f"WHEN {BUCKET} < 50 THEN 'not_eligible' WHEN {BUCKET} < 65 THEN 'offered' "
          f"WHEN {BUCKET} < 80 THEN 'handed_off' WHEN {BUCKET} < 85 THEN 'rejected' "
          f"WHEN {BUCKET} < 90 THEN 'approved' WHEN {BUCKET} < 97 THEN 'disbursed' ELSE 'cancelled' END")


def _at(expression: str, floor: int, minutes: int) -> str:
    """The lead's age plus `minutes`, for the leads that got as far as bucket `floor`."""
    return f"CASE WHEN {BUCKET} >= {floor} THEN {expression} + interval '{minutes} minutes' END"


def _share(objects, expression: str) -> str:
    """A CASE choosing the pk of one of objects by LENDER_SHARES of (expression % 100)."""
    whens, bound = [], 0
    for obj, share in zip(objects, LENDER_SHARES, strict=True):
        bound += share
        whens.append(f"WHEN ({expression}) % 100 < {bound} THEN {obj.pk}")
    return f"CASE {' '.join(whens)} END"


def marketplace_create(tag: str):
    """Origins, lenders (product, listing, campaign each) shown to every origin, a superuser."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.campaigns.models import Campaign
    from apps.lenders.models import Lender
    from apps.listings.models import Listing
    from apps.origins.models import Origin
    from apps.products.models import Product

    origins = [Origin.objects.create(code=f"scaleorigin{i}", name=f"Origin {i}", kind=Origin.Kind.WALLET)
               for i in range(ORIGINS)]
    lenders, products, listings, campaigns = [], [], [], []
    for i in range(len(LENDER_SHARES)):
        lender = Lender.objects.create(code=f"scale-lender-{i}", name=f"Lender {i}", adapter="embedded",
                                       base_url="http://127.0.0.1:9/unused", postback_key=f"pk_scale_{tag}_{i}",
                                       postback_secret=secrets.token_hex(16), credentials={"api_key": "k"})
        product = Product.objects.create(product_id=f"ln_personal_000{i}", lender=lender, name=f"Crédito {i}",
                                         kind="personal", min_amount=Decimal("500000"), max_amount=Decimal("20000000"),
                                         min_term_months=6, max_term_months=48, min_annual_rate=Decimal("0.18"),
                                         max_annual_rate=Decimal("0.32"))
        listing = Listing.objects.create(listing_id=f"lst_scale00000{i}", product=product, title=f"Oferta {i}")
        campaign = Campaign.objects.create(name=f"Campaign {i}", lender=lender, product=product,
                                           budget=Decimal("900000000000"), price_per_lead=Decimal("1000"),
                                           starts_at=timezone.now() - timedelta(days=400))
        campaign.listings.add(listing)
        campaign.origins.add(*origins)
        lenders.append(lender)
        products.append(product)
        listings.append(listing)
        campaigns.append(campaign)
    get_user_model().objects.create_superuser("bench", password=secrets.token_urlsafe(16))
    return origins, lenders, products, listings, campaigns


def _ciphertexts() -> dict[str, str]:
    """The SQL literal of each encrypted column's one value, encrypted with the current key."""
    from apps.leads.models import Lead

    return {name: "'" + Lead._meta.get_field(name).get_prep_value(value) + "'" for name, value in CONSUMER.items()}


def leads_create(leads: int, marketplace) -> None:
    from apps.leads.models import Lead

    origins, lenders, products, listings, campaigns = marketplace
    secret = _ciphertexts()
    # The lender's pick, per hundred leads (each holds the whole mix of statuses): lenders and
    # statuses independent, neighbouring hundreds at different lenders.
    who = "(((n - 1) / 100) * 37)"
    identity = {name: f"CASE WHEN {BUCKET} >= 30 THEN {value} ELSE '' END" for name, value in secret.items()}
    identity["monthly_income"] = f"CASE WHEN {BUCKET} >= 30 THEN {secret['monthly_income']} END"
    age = _age("n", leads)
    insert_series(Lead, leads, {
        **identity,
        "tracking_id": "md5(n::text)::uuid::text", "public_token": "md5('t' || n::text)",
        "origin_id": _pick(origins, "(n * 13) / 7"), "lender_id": _share(lenders, who),
        "product_id": _share(products, who), "listing_id": _share(listings, who),
        "campaign_id": f"CASE WHEN {BUCKET} >= 30 THEN {_share(campaigns, who)} END",
        "status": STATUS, "created_at": age, "updated_at": f"least({age} + interval '3 days', now() - interval '1 hour')",
        "document_type": f"CASE WHEN {BUCKET} >= 30 THEN 'CC' ELSE '' END",
        "monthly_income_band": f"CASE WHEN {BUCKET} >= 30 THEN 3 END", "requested_amount": "5000000",
        "requested_term_months": "24", "region": "'CO-DC'",
        "identity_at": _at(age, 30, 3), "decided_at": _at(age, 35, 4), "submitted_at": _at(age, 65, 9),
        "handed_off_at": _at(age, 65, 10), "lender_status_at": _at(age, 80, 2880),
        "lender_reference": f"CASE WHEN {BUCKET} >= 65 THEN 'REF-' || n ELSE '' END",
    })


def history_create(leads: int) -> list[str]:
    """Decisions, offers, timeline events, ledger, lender calls and postback events; each an
    INSERT ... SELECT from the leads or a series. Returns the statements' names in order."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) - 1 FROM leads_lead")
        base = cursor.fetchone()[0]
    calls = leads * CALLS_PER_LEAD
    events = leads * EVENTS_PER_LEAD
    # Calls go to leads that gave their identity (b >= 30): the lead of series row m is the
    # lead number n of (m - 1) % leads, moved into b 30-59 when it left before.
    call_n = f"(((m - 1) % {leads}) + CASE WHEN (m - 1) % 100 < 30 THEN 30 ELSE 0 END + 1)"
    # Events go to handed-off leads (b >= 65): b 65-99 of the same hundred.
    event_n = f"(((m - 1) % {leads}) - (m - 1) % 100 + 65 + ((m - 1) % 100) % 35 + 1)"
    attempt = f"((m - 1) / {leads})"  # 0..4: the lead's k-th call or event
    call_age = _age(call_n, leads)
    event_age = _age(event_n, leads)
    event_bucket = f"(({event_n} - 1) % 100)"
    final = (f"CASE WHEN {event_bucket} < 80 THEN 'pre_approved' WHEN {event_bucket} < 85 THEN 'rejected' "
             f"WHEN {event_bucket} < 90 THEN 'approved' WHEN {event_bucket} < 97 THEN 'disbursed' ELSE 'cancelled' END")
    received = f"{event_age} + interval '1 day' * (1 + {attempt})"
    statements = {
        "decisions": "INSERT INTO leads_decision (lead_id, lender_id, outcome, reason, lender_reference, created_at, "
        "updated_at) SELECT id, lender_id, CASE WHEN status = 'not_eligible' THEN 'rejected' ELSE 'approved' END, '', "
        "'', decided_at, decided_at FROM leads_lead WHERE decided_at IS NOT NULL",
        "offers": "INSERT INTO leads_offer (decision_id, lender_offer_id, amount, term_months, monthly_payment, "
        "annual_rate, currency, url) SELECT id, 'OF-1', 5000000, 24, 265000, 0.28, 'COP', '' FROM leads_decision "
        "WHERE outcome = 'approved'",
        "lead events": "INSERT INTO leads_leadevent (lead_id, kind, status, message, created_at) "
        "SELECT id, 'started', 'new', '', created_at FROM leads_lead UNION ALL "
        "SELECT id, CASE WHEN handed_off_at IS NOT NULL THEN 'handed_off' WHEN decided_at IS NOT NULL THEN 'decision' "
        "ELSE 'identity' END, status, '', coalesce(handed_off_at, decided_at, identity_at) FROM leads_lead "
        "WHERE identity_at IS NOT NULL ORDER BY 5",
        "ledger": "INSERT INTO campaigns_ledgerentry (campaign_id, lead_id, origin_id, lender_id, kind, amount, "
        "list_price, currency, day, created_at) SELECT campaign_id, id, origin_id, lender_id, 'lead', 1000, 1000, "
        "'COP', (identity_at AT TIME ZONE 'America/Bogota')::date, identity_at FROM leads_lead "
        "WHERE campaign_id IS NOT NULL",
        "lender calls": "INSERT INTO lenders_lendercall (lender_id, lead_id, capability, attempt, idempotency_key, "
        "outcome, http_status, error, request_method, request_url, request_body, response_body, started_at, "
        "finished_at, duration_ms, lease_expires_at) "
        f"SELECT l.lender_id, l.id, CASE WHEN {attempt} < 2 THEN 'prequalify' WHEN {attempt} = 2 THEN 'submit' "
        f"ELSE 'poll' END, 1 + {attempt} % 2, 'k' || m, CASE WHEN m % 20 = 0 THEN 'technical_failure' "
        f"WHEN {attempt} = 2 THEN 'submitted' WHEN l.status = 'not_eligible' THEN 'rejected' ELSE 'approved' END, "
        "CASE WHEN m % 20 = 0 THEN 503 ELSE 200 END, '', 'POST', 'https://api.lender.example/v1/applications', "
        f"CASE WHEN {call_age} > now() - interval '{BODY_DAYS} days' THEN "
        "'{\"trackingId\": \"x\", \"documentNumber\": \"••••••4050\"}' ELSE '' END, "
        f"CASE WHEN {call_age} > now() - interval '{BODY_DAYS} days' THEN '{{\"status\": \"ok\"}}' ELSE '' END, "
        f"{call_age} + {attempt} * interval '1 minute', {call_age} + {attempt} * interval '1 minute', "
        f"CASE WHEN m % 50 = 0 THEN 4000 + (m * 7) % 9000 ELSE 150 + (m * 7919) % 3000 END, NULL "
        f"FROM generate_series(1::bigint, {calls}::bigint) AS m JOIN leads_lead l ON l.id = {base} + {call_n} "
        "ORDER BY 13",
        "postback events": "INSERT INTO postbacks_postbackevent (lender_id, lead_id, click_id, status, event_id, "
        "occurred_at, received_at, product_id, currency, reason, lender_reference, metadata, effect, looks_like, "
        "is_repeat, raw_body, headers, nonce, followed_up_at, follow_up_attempts, follow_up_error) "
        f"SELECT l.lender_id, l.id, l.tracking_id, CASE WHEN {attempt} = 0 THEN 'pre_approved' ELSE {final} END, "
        f"'ev-' || m, {received}, {received}, '', '', '', '', '{{}}', CASE WHEN {attempt} < 2 THEN 'applied' "
        f"ELSE 'no_change' END, '', {attempt} >= 2, '\\x7b7d', '{{}}', 'nonce-' || m, {received}, 0, '' "
        f"FROM generate_series(1::bigint, {events}::bigint) AS m JOIN leads_lead l ON l.id = {base} + {event_n} "
        "ORDER BY 7",
    }
    with connection.cursor() as cursor:
        for statement in statements.values():
            cursor.execute(statement)
    return list(statements)


def waiting_create(marketplace) -> None:
    """WAITING leads waiting on a lender's decision whose task was lost an hour ago."""
    from django.utils import timezone

    from apps.leads.models import Lead, LeadStatus

    origins, lenders, products, listings, campaigns = marketplace
    hour_ago = timezone.now() - timedelta(hours=1)
    Lead.objects.bulk_create([
        Lead(origin=origins[0], lender=lenders[0], product=products[0], listing=listings[0], campaign=campaigns[0],
             tracking_id=f"waiting-{n}-{secrets.token_hex(8)}", public_token=secrets.token_urlsafe(32),
             status=LeadStatus.AWAITING_DECISION, identity_at=hour_ago)
        for n in range(WAITING)
    ])
    Lead.objects.filter(status=LeadStatus.AWAITING_DECISION).update(updated_at=hour_ago, created_at=hour_ago)


def database_fill(leads: int, tag: str) -> dict[str, float]:
    """The whole database; returns the seconds each step took."""
    import time

    from django.db import connection

    seconds = {}
    began = time.perf_counter()
    marketplace = marketplace_create(tag)
    leads_create(leads, marketplace)
    seconds["leads"] = time.perf_counter() - began
    began = time.perf_counter()
    history_create(leads)
    seconds["history"] = time.perf_counter() - began
    waiting_create(marketplace)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, long before a year passed
    seconds["vacuum_analyze"] = time.perf_counter() - began
    return seconds


def follow_ups_seed(count: int) -> None:
    """Mark every due follow-up done, then `count` fresh approvals of handed-off leads to follow up."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE postbacks_postbackevent SET followed_up_at = now() "
                       "WHERE followed_up_at IS NULL AND follow_up_failed_at IS NULL")
        cursor.execute(
            "INSERT INTO postbacks_postbackevent (lender_id, lead_id, click_id, status, event_id, occurred_at, "
            "received_at, product_id, currency, reason, lender_reference, metadata, effect, looks_like, is_repeat, "
            "raw_body, headers, nonce, follow_up_attempts, follow_up_error) "
            "SELECT lender_id, id, tracking_id, 'approved', 'fu-' || id, now(), now(), '', '', '', '', '{}', "
            "'applied', '', false, '\\x7b7d', '{}', 'fu-' || md5(random()::text), 0, '' FROM leads_lead "
            "WHERE status = 'handed_off' ORDER BY id DESC LIMIT %s", [count])
