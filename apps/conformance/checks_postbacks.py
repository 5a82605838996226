"""The postback checks: the kit's test journeys are handed to the lender, which sends their
postbacks (a sandbox lender is told to over HTTP; a real lender is given the click_ids and the
window in the report), and the kit reads what the postback endpoint recorded and refused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.db.models import Max

from apps.conformance.report import FAILED, PASSED, SKIPPED, Check, note
from apps.leads.models import Lead
from apps.lenders.models import Lender, PostbackAuthFailure
from apps.postbacks.models import PostbackEvent
from prosperas.inbound.signing import HEADER_KEY, HEADER_NONCE, HEADER_TIMESTAMP, signature

POSTBACK_PATH = "/api/v1/postbacks"
FINAL_STATUSES = {"disbursed", "rejected", "cancelled"}
SETTLE_SECONDS = 1.0
TRIGGER_TIMEOUT_SECONDS = 10
# Refusals that say the lender signs wrongly; a replayed nonce is the replay check's.
SIGNING_REFUSALS = {"missing_headers", "bad_timestamp", "stale_timestamp", "bad_nonce", "bad_signature"}


@dataclass(frozen=True)
class Window:
    started_at: datetime
    click_ids: tuple[str, ...]
    trigger: str


def postback_url() -> str:
    return settings.SITE_URL + POSTBACK_PATH


def trigger_url(lender: Lender, profile) -> str:
    """Where to ask the lender for its postbacks: the profile's URL, or the sandbox's own for a
    lender played by the platform's sandbox (a URL convention: this app does not import it)."""
    if profile.postback_trigger_url:
        return profile.postback_trigger_url
    sandbox = f"{settings.SITE_URL}/sandbox/"
    if lender.base_url.startswith(sandbox) and settings.SANDBOX_ENABLED:
        return f"{settings.SITE_URL}/sandbox/postbacks/{lender.code}/send"
    return ""


def postbacks_ask(*, lender: Lender, profile, click_ids: list[str], started_at: datetime) -> tuple[Window, dict]:
    url = trigger_url(lender, profile)
    window = Window(started_at=started_at, click_ids=tuple(click_ids), trigger=url)
    if not url:
        return window, note("Send a postback for each of these click_ids within the window", click_ids=click_ids,
                            postback_url=postback_url(), window_seconds=profile.postback_window_seconds)
    try:
        answer = requests.post(url, json={"click_ids": click_ids, "postback_url": postback_url(),
                                          "window_seconds": profile.postback_window_seconds},
                               timeout=TRIGGER_TIMEOUT_SECONDS)
        told = f"HTTP {answer.status_code}"
    except requests.RequestException as exc:
        told = f"not reached: {type(exc).__name__}"
    return window, note("The lender was asked for its postbacks", trigger_url=url, click_ids=click_ids, answer=told)


def _events(lender: Lender, window: Window):
    return PostbackEvent.objects.filter(lender=lender, received_at__gte=window.started_at).order_by("received_at", "id")


def _refusals(lender: Lender, window: Window):
    return PostbackAuthFailure.objects.filter(lender=lender, last_seen_at__gte=window.started_at)


def postbacks_wait(*, lender: Lender, window: Window, seconds: float) -> None:
    """Until every test journey has a final status reported and nothing new came for a moment,
    or the window ends."""
    deadline = time.monotonic() + seconds
    last_seen = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        seen = (_events(lender, window).aggregate(last=Max("id"))["last"],
                _refusals(lender, window).aggregate(last=Max("last_seen_at"))["last"])
        if seen != last_seen:
            last_seen, quiet_since = seen, time.monotonic()
        finished = set(_events(lender, window).filter(status__in=FINAL_STATUSES, click_id__in=window.click_ids)
                       .values_list("click_id", flat=True))
        if finished >= set(window.click_ids) and time.monotonic() - quiet_since >= SETTLE_SECONDS:
            return
        time.sleep(0.2)


def _event_evidence(event: PostbackEvent) -> dict:
    return {"kind": "postback", "click_id": event.click_id, "status": event.status, "effect": event.effect,
            "looks_like": event.looks_like, "is_repeat": event.is_repeat, "event_id": event.event_id,
            "received_at": event.received_at.isoformat()}


def _refusal_evidence(row: PostbackAuthFailure) -> dict:
    return {"kind": "refusal", "reason": row.reason, "count": row.count, "last_seen_at": row.last_seen_at.isoformat()}


def postback_checks(*, lender: Lender, window: Window, asked: dict) -> list[Check]:
    events = list(_events(lender, window))
    refusals = list(_refusals(lender, window))
    lead_ids = set(Lead.objects.filter(lender=lender, tracking_id__in=window.click_ids).values_list("pk", flat=True))
    ours = [event for event in events if event.lead_id in lead_ids]
    evidence = [asked, *(_event_evidence(event) for event in events), *(_refusal_evidence(row) for row in refusals)]
    return [_click_id_check(events, ours, window, evidence), _signature_check(events, refusals, evidence),
            _replay_check(lender, events, refusals, evidence), _transition_check(ours, evidence)]


def _click_id_check(events, ours, window, evidence) -> Check:
    if not events:
        return Check("postback_click_id", SKIPPED, "No postback was recorded: nothing to compare.", evidence)
    unmatched = [event for event in events if event.effect == PostbackEvent.Effect.UNMATCHED]
    if unmatched:
        hints = sorted({event.looks_like for event in unmatched if event.looks_like})
        return Check("postback_click_id", FAILED, f"{len(unmatched)} postback(s) named a click_id we never sent"
                     + (f" (it looks like ours after: {', '.join(hints)})" if hints else "") + ".", evidence)
    missing = sorted(set(window.click_ids) - {event.click_id for event in ours})
    if missing:
        return Check("postback_click_id", FAILED, f"No postback for {len(missing)} test journey(s).", evidence)
    return Check("postback_click_id", PASSED, f"{len(ours)} postback(s), each with the click_id exactly as sent.",
                 evidence)


def _signature_check(events, refusals, evidence) -> Check:
    bad = [row for row in refusals if row.reason in SIGNING_REFUSALS]
    if bad:
        reasons = ", ".join(sorted({f"{row.reason} ×{row.count}" for row in bad}))
        return Check("postback_signatures", FAILED, f"Postbacks refused at authentication: {reasons}.", evidence)
    if not events:
        return Check("postback_signatures", FAILED, "No postback arrived within the window.", evidence)
    return Check("postback_signatures", PASSED, f"{len(events)} postback(s) verified, none refused.", evidence)


def _replay_check(lender: Lender, events, refusals, evidence) -> Check:
    replayed = [row for row in refusals if row.reason == "replayed_nonce"]
    if replayed:
        count = sum(row.count for row in replayed)
        return Check("postback_replay", FAILED, f"{count} of the lender's postbacks reused a nonce and were refused "
                     "as replays: sign every request, retries included, with a fresh nonce.", evidence)
    if not events:
        return Check("postback_replay", SKIPPED, "No postback was recorded: nothing to replay.", evidence)
    status, error = _replay(lender, events[0])
    replay = note("One recorded postback sent again exactly as received", answer_status=status, answer_error=error)
    refused = status == 401 and error in ("replayed_nonce", "stale_timestamp")
    repeat_of_bearer = lender.postback_auth == Lender.PostbackAuth.API_KEY and status == 202
    if refused or repeat_of_bearer:
        return Check("postback_replay", PASSED, f"The replay was refused ({status} {error})." if refused else
                     "Bearer lender: the replay was recorded as a repeat of its event.", [*evidence, replay])
    return Check("postback_replay", FAILED, f"The replay was answered {status} {error}.", [*evidence, replay])


def _replay(lender: Lender, event: PostbackEvent) -> tuple[int | None, str]:
    """The recorded postback again, byte for byte: its body and headers as received; the HMAC of
    the same timestamp, nonce and body with the lender's secret is the signature it came with."""
    raw = bytes(event.raw_body)
    headers = {"Content-Type": "application/json"}
    if lender.postback_auth == Lender.PostbackAuth.API_KEY:
        headers["Authorization"] = f"Bearer {lender.postback_secret}"
    else:
        stored = {name.lower(): value for name, value in event.headers.items()}
        timestamp, nonce = stored.get(HEADER_TIMESTAMP.lower(), ""), stored.get(HEADER_NONCE.lower(), "")
        headers.update({HEADER_KEY: stored.get(HEADER_KEY.lower(), lender.postback_key), HEADER_TIMESTAMP: timestamp,
                        HEADER_NONCE: nonce, "X-Prosperas-Signature": signature(lender.postback_secret, timestamp,
                                                                                 nonce, raw)})
    try:
        answer = requests.post(postback_url(), data=raw, headers=headers, timeout=TRIGGER_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return None, type(exc).__name__
    try:
        error = str(answer.json().get("error", ""))
    except ValueError:
        error = ""
    return answer.status_code, error


def _transition_check(ours, evidence) -> Check:
    if not ours:
        return Check("postback_transitions", SKIPPED, "No postback of a test journey was recorded.", evidence)
    contradicting = [event for event in ours if event.effect == PostbackEvent.Effect.CONTRADICTS]
    if contradicting:
        listed = ", ".join(f"{event.status} ({event.click_id})" for event in contradicting)
        return Check("postback_transitions", FAILED, f"Transitions the contract forbids: {listed}.", evidence)
    path = " → ".join(event.status for event in ours)
    return Check("postback_transitions", PASSED, f"Only allowed transitions: {path}.", evidence)
