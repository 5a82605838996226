"""Postbacks: authenticating a lender's request and recording what it reports (DESIGN.md §5).

Two entry points for the endpoint, in the order it calls them:

- `postback_authenticate` works on the raw body bytes, before anything is parsed: it finds the
  lender, checks its address and verifies the credentials by the lender's mode
  (prosperas.inbound.auth, over the lenders' key store). Every refusal is counted.
- `postback_ingest`, atomically: moves the lead through the leads app's transition table and
  records the event, matched to a lead by exact click_id or not, with its nonce: the event's
  insert refuses a nonce the lender already used (unique per lender), so a nonce is spent
  exactly when its event is recorded and a replay undoes everything (refused and counted). It is
  one statement (rows.event_record_moving_lead); when other postbacks of the same lead keep
  changing it under that statement, a transaction of two (the lead's UPDATE, which locks it,
  then the event's INSERT).

What a move sets off (the consumer's email, the campaign's result charge) is not done while the
lender waits: each such event is recorded with `followed_up_at` empty, and
`postback_follow_ups_run` (a beat task every POSTBACK_FOLLOW_UP_INTERVAL_SECONDS) does it, once.
The lender's answer, the lead's status and the consumer's status page are current at once; the
email and the ledger follow within seconds. This keeps the endpoint's work, and the time it
holds the lead's lock, to a few statements (bench/postbacks.py measures it), and a slow mail
server, broker or campaign row never delays or fails a lender's postback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.leads.rows import lead_postback_apply, lead_postback_params, lead_postback_preview
from apps.leads.services import lead_postback_follow_up
from apps.lenders.models import Lender
from apps.lenders.retention import nonce_retention, nonces_due
from apps.lenders.signed_requests import LENDER_KEYS, credential_use_record, lender_unchanged
from apps.postbacks import contract, rows
from apps.postbacks.models import PostbackEvent
from apps.postbacks.selectors import click_id_lookalike
from prosperas.inbound import auth
from prosperas.inbound.refusals import AuthenticationRefused

logger = logging.getLogger(__name__)


class LenderChanged(Exception):
    """The lender's credentials changed after this process read them and before the event was
    recorded: nothing was recorded; authenticate the request again on the lender as stored now."""


@dataclass(frozen=True)
class PostbackData:
    """A validated postback body (the serializer's output); absent optional fields are blank."""

    click_id: str
    status: str
    event_id: str = ""
    occurred_at: datetime | None = None
    product_id: str = ""
    amount: Decimal | None = None
    currency: str = ""
    reason: str = ""
    lender_reference: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PostbackOutcome:
    """What postback_ingest recorded: the event's id and what it did."""

    event_pk: int
    effect: str
    is_repeat: bool
    lead_status: str | None  # the lead's status after the event; None when unmatched
    looks_like: list[str] = field(default_factory=list)  # unmatched: what the click_id looks like

    @property
    def matched(self) -> bool:
        return self.effect != PostbackEvent.Effect.UNMATCHED

    @functools.cached_property
    def event(self) -> PostbackEvent:
        """The event as recorded (read on first access: the endpoint itself never needs it)."""
        return PostbackEvent.objects.get(pk=self.event_pk)


@dataclass(frozen=True)
class Authenticated:
    """Who sent a request whose credentials verified, and the nonce it carried ("" for api_key
    lenders: nothing to spend). The nonce is spent by `postback_ingest` with the event.
    `lender_stored` is set when the lender came from this process's kept copy: its credential
    columns as read, which `postback_ingest` writes only while they still hold."""

    lender: Lender
    nonce: str
    lender_stored: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PostbackSimulation:
    """What the real endpoint would have done with a postback (the tester's answer)."""

    matched: bool
    effect: str
    is_repeat: bool
    lead_status_before: str | None  # None when unmatched
    lead_status: str | None  # after the event
    looks_like: list[str] = field(default_factory=list)


# --- Authentication ---------------------------------------------------------------------------


def postback_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None,
                          fresh: bool = False) -> Authenticated:
    """The lender that sent this request and its nonce, or AuthenticationRefused (counted, then
    raised): prosperas.inbound.auth over the lenders' key store. The nonce is checked for replay
    when it is spent, by `postback_ingest`.

    The lender may come from this process's recent copy (apps.lenders.signed_requests) unless
    `fresh`; one accepted on it is recorded only if its credentials are still current
    (Authenticated.lender_stored). `headers` must look names up case-insensitively.
    """
    verified = auth.authenticate(LENDER_KEYS, headers=headers, raw_body=raw_body, client_ip=client_ip, fresh=fresh)
    credentials = verified.credentials
    credential_use_record(credentials, headers=headers, raw_body=raw_body)
    return Authenticated(lender=credentials.sender, nonce=verified.nonce,
                         lender_stored=credentials.stored if credentials.kept else None)


def postback_test_authenticate(*, headers: Mapping[str, str], raw_body: bytes, client_ip: str | None) -> Authenticated:
    """The postback tester's authentication: every check of `postback_authenticate`, in the same
    order, for staging credentials only, recording nothing: refusals are not counted (the tester
    is where a lender gets them wrong on purpose) and nonces are spent at once in the tester's
    own set, so a request tried here can still be sent once to the real endpoint."""
    credentials = auth.identify(LENDER_KEYS, headers, fresh=True)
    lender = credentials.sender
    if lender.environment != Lender.Environment.STAGING:
        raise AuthenticationRefused("not_a_staging_key", sender=lender, messages=contract.TESTER_AUTH_FAILURE_MESSAGES)
    auth.address_check(credentials, client_ip)
    nonce = auth.verify(credentials, headers=headers, raw_body=raw_body)
    if nonce and not LENDER_KEYS.nonce_spend(sender=lender, nonce=nonce, tester=True):
        raise AuthenticationRefused("replayed_nonce", sender=lender)
    return Authenticated(lender=lender, nonce="")


def postback_nonces_purge(*, now: datetime | None = None) -> int:
    """Forget nonces older than the retention (twice the timestamp tolerance, checked at start-up):
    a replay that old is refused by its timestamp anyway."""
    deleted, _ = nonces_due((now or timezone.now()) - nonce_retention()).delete()
    return deleted


# --- Ingesting an authenticated event ---------------------------------------------------------


class NonceReplayed(Exception):
    """Raised inside the ingest transaction to roll it back: nothing of a replay is kept."""


def postback_ingest(
    *, lender: Lender, data: PostbackData, raw_body: bytes, headers: dict[str, str], source_ip: str | None,
    nonce: str = "", lender_stored: tuple[str, ...] | None = None,
) -> PostbackOutcome:
    """Record one accepted postback with its nonce and move its lead, atomically. Never
    deduplicates: every accepted request is a new row; a repeat of an earlier event is marked so
    reports count it once. A replayed nonce records nothing, is counted, and raises
    AuthenticationRefused("replayed_nonce"). With `lender_stored` (Authenticated's), records
    nothing and raises LenderChanged once the lender's credentials are no longer those."""
    now = timezone.now()
    # The event's values by attname, as the ORM would save them (received_at: auto_now_add).
    event = {
        "lender_id": lender.pk, "click_id": data.click_id, "status": data.status, "event_id": data.event_id,
        "occurred_at": data.occurred_at or now, "received_at": now, "product_id": data.product_id,
        "amount": data.amount, "currency": data.currency, "reason": data.reason,
        "lender_reference": data.lender_reference, "metadata": data.metadata, "looks_like": "", "raw_body": raw_body,
        "headers": headers, "source_ip": source_ip, "nonce": nonce,
    }
    try:
        return _ingest_in_one_statement(lender, event, lender_stored)
    except NonceReplayed:
        LENDER_KEYS.refusal_record(sender=lender, reason="replayed_nonce", client_ip=source_ip)
        raise AuthenticationRefused("replayed_nonce", sender=lender) from None


# How many times the one-statement ingest is run again when another postback of the same lead
# committed under it, before the transaction (which waits its turn on the lead's lock) does it.
STALE_ATTEMPTS = 3


def _ingest_in_one_statement(lender: Lender, event: dict, lender_stored: tuple[str, ...] | None) -> PostbackOutcome:
    """The lead's move and the event's insert in one statement (rows.event_record_moving_lead)."""
    move_params = lead_postback_params(lender_id=lender.pk, tracking_id=event["click_id"], incoming=event["status"],
                                       occurred_at=event["occurred_at"], now=event["received_at"])
    for _attempt in range(STALE_ATTEMPTS):
        recorded = rows.event_record_moving_lead(event, move_params=move_params, lender_stored=lender_stored)
        if recorded == rows.REPLAYED:
            raise NonceReplayed
        if recorded == rows.LENDER_CHANGED:
            raise LenderChanged
        if recorded != rows.STALE:
            break
    else:
        return _ingest_in_transaction(lender, event, lender_stored)
    looks_like = []
    if recorded.lead_id is None:
        # The hint for the lender, written just after: it is only read by people and the answer.
        looks_like = click_id_lookalike(lender=lender, click_id=event["click_id"])
        if looks_like:
            PostbackEvent.objects.filter(pk=recorded.event_pk).update(looks_like=",".join(looks_like))
    return PostbackOutcome(event_pk=recorded.event_pk, effect=recorded.effect, is_repeat=recorded.is_repeat,
                           lead_status=recorded.lead_status, looks_like=looks_like)


@transaction.atomic
def _ingest_in_transaction(lender: Lender, event: dict, lender_stored: tuple[str, ...] | None) -> PostbackOutcome:
    """The lead's move (which locks it until the end of the transaction), then the event's insert,
    which decides is_repeat once the lock is held: after the one statement found the lead changed
    under it STALE_ATTEMPTS times, this waits its turn on the lead's lock instead."""
    if lender_stored is not None and not lender_unchanged(lender_id=lender.pk, stored=lender_stored):
        raise LenderChanged
    # The lead with exactly this click_id (DESIGN.md §3: never trimmed, re-cased or parsed).
    move = lead_postback_apply(lender_id=lender.pk, tracking_id=event["click_id"], incoming=event["status"],
                               occurred_at=event["occurred_at"])
    looks_like = []
    if move is None:
        lead_id, effect, lead_status = None, PostbackEvent.Effect.UNMATCHED, None
        looks_like = click_id_lookalike(lender=lender, click_id=event["click_id"])
    else:
        lead_id, effect, lead_status = move.lead_id, move.effect, move.status
    # Only a move sets something off (the consumer's email, a result's charge): the others are
    # recorded as already followed up, so the runner's index holds only work to do.
    followed_up_at = None if effect == PostbackEvent.Effect.APPLIED else timezone.now()
    recorded = rows.event_insert({**event, "lead_id": lead_id, "effect": effect, "looks_like": ",".join(looks_like),
                                  "followed_up_at": followed_up_at})  # is_repeat decided by the INSERT, after the lock
    if recorded is None:
        raise NonceReplayed  # rolls back the lead's move with it
    event_pk, is_repeat = recorded
    return PostbackOutcome(event_pk=event_pk, effect=effect, is_repeat=is_repeat, lead_status=lead_status,
                           looks_like=looks_like)


# --- Following up on applied events, off the lender's request ----------------------------------


def postback_follow_ups_run(*, limit: int = 500) -> int:
    """Do what the applied events recorded since the last run set off (the consumer's email, the
    campaign's result charge), oldest first, each once; returns how many were done. Safe to run
    in several workers at once: an event another runner holds is skipped, one it finished is
    not done again. An event whose follow-up fails (its transaction rolled back) is tried again
    after a delay that doubles each time, never holding up the events after it; after
    POSTBACK_FOLLOW_UP_MAX_ATTEMPTS failures it is given up (follow_up_failed_at) for staff to see
    and retry (`postback_follow_ups_retry`), instead of failing every run forever."""
    now = timezone.now()
    due = (PostbackEvent.objects.filter(followed_up_at__isnull=True, follow_up_failed_at__isnull=True)
           .filter(Q(follow_up_next_at__isnull=True) | Q(follow_up_next_at__lte=now))
           .order_by("id").values_list("pk", flat=True)[:limit])
    done = 0
    for event_id in list(due):
        try:
            done += _follow_up(event_id)
        except Exception as error:  # noqa: BLE001 - logged with the event's id (no personal data), counted
            logger.exception("postback event %s: follow-up failed", event_id)
            _follow_up_failure_record(event_id, error)
    return done


@transaction.atomic
def _follow_up(event_id: int) -> bool:
    event = (PostbackEvent.objects.select_for_update(skip_locked=True)
             .filter(pk=event_id, followed_up_at__isnull=True, follow_up_failed_at__isnull=True)
             .only("lead_id", "status").first())
    if event is None:
        return False  # another runner holds it, or has done it
    lead_postback_follow_up(lead_id=event.lead_id, status=event.status)
    PostbackEvent.objects.filter(pk=event_id).update(followed_up_at=timezone.now())
    return True


# The last error kept with the event: its type and the start of its message.
FOLLOW_UP_ERROR_CHARS = 500
FOLLOW_UP_MAX_DELAY_SECONDS = 300


def follow_up_delay_seconds(failures: int) -> float:
    """The wait before the next try after `failures` failures: the beat interval, doubled each time."""
    return min(settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS * 2 ** failures, FOLLOW_UP_MAX_DELAY_SECONDS)


def _follow_up_failure_record(event_id: int, error: Exception) -> None:
    """One more failure of the event's follow-up, with its error; the next try is delayed, or, at
    the last allowed failure, the follow-up is given up. Recorded with its own statement, after
    the follow-up's transaction rolled back."""
    with transaction.atomic():
        event = (PostbackEvent.objects.select_for_update()
                 .filter(pk=event_id, followed_up_at__isnull=True, follow_up_failed_at__isnull=True)
                 .only("follow_up_attempts").first())
        if event is None:
            return
        failures = event.follow_up_attempts + 1
        now = timezone.now()
        given_up = failures >= settings.POSTBACK_FOLLOW_UP_MAX_ATTEMPTS
        PostbackEvent.objects.filter(pk=event_id).update(
            follow_up_attempts=failures,
            follow_up_error=f"{type(error).__name__}: {error}"[:FOLLOW_UP_ERROR_CHARS],
            follow_up_next_at=None if given_up else now + timedelta(seconds=follow_up_delay_seconds(failures)),
            follow_up_failed_at=now if given_up else None,
        )
    if given_up:
        logger.error("postback event %s: follow-up given up after %s failures; staff can retry it in admin",
                     event_id, failures)


def postback_follow_ups_retry(*, event_ids: list[int]) -> int:
    """Staff's retry of follow-ups (given up or waiting for their next try): due again at the next
    run, with a fresh count of tries. Events already followed up are left as they are. Returns how
    many were made due."""
    return (PostbackEvent.objects.filter(pk__in=event_ids, followed_up_at__isnull=True)
            .update(follow_up_attempts=0, follow_up_next_at=None, follow_up_failed_at=None))


def postback_simulate(*, lender: Lender, data: PostbackData) -> PostbackSimulation:
    """The postback tester's dry run of `postback_ingest`: the same match, repeat check and
    transition table (the leads app's own conditions, apps.leads.rows.lead_postback_preview),
    read-only. Nothing is written and no lead is locked or moved."""
    preview = lead_postback_preview(lender_id=lender.pk, tracking_id=data.click_id, incoming=data.status,
                                    occurred_at=data.occurred_at or timezone.now())
    is_repeat = rows.event_exists_like({"lender_id": lender.pk, "lead_id": preview.lead_id if preview else None,
                                        "click_id": data.click_id, "status": data.status, "event_id": data.event_id})
    if preview is None:
        looks_like = click_id_lookalike(lender=lender, click_id=data.click_id)
        return PostbackSimulation(matched=False, effect=PostbackEvent.Effect.UNMATCHED, is_repeat=is_repeat,
                                  lead_status_before=None, lead_status=None, looks_like=looks_like)
    return PostbackSimulation(matched=True, effect=preview.effect, is_repeat=is_repeat,
                              lead_status_before=preview.status_before, lead_status=preview.status)
