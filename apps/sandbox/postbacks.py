"""The sandbox lender's postbacks for a batch of journeys, as the conformance kit asks for them.

For each click_id the lender reports the credit's way up: pre_approved, approved, disbursed, each
postback signed afresh (or sent with its bearer key), one after the other. The knobs of
SandboxLenderSettings break one thing each: the click_id upper-cased, a wrong secret, one nonce
for every postback, or a rejection after the disbursement (a transition the contract forbids).
Sent from a background thread that holds no database connection: the view answers at once.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass

import requests
from django.utils import timezone

from apps.lenders.models import Lender
from apps.sandbox.models import SandboxLenderSettings
from prosperas.inbound.signing import new_nonce, signed_headers

logger = logging.getLogger(__name__)

LADDER = ("pre_approved", "approved", "disbursed")
BAD_LADDER = ("pre_approved", "approved", "disbursed", "rejected")
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class _Sender:
    """What the thread needs, read before it starts: no ORM object crosses into it."""

    auth: str
    key: str
    secret: str
    url: str
    nonce: str  # one nonce for every postback ("" : a fresh one each)


def sandbox_postbacks_dispatch(*, lender: Lender, knobs: SandboxLenderSettings, click_ids: list[str], url: str) -> int:
    """Start sending; returns how many postbacks will be sent."""
    ladder = BAD_LADDER if knobs.postback_bad_transition else LADDER
    if knobs.postback_click_id_changed:
        click_ids = [click_id.upper() if click_id.upper() != click_id else click_id + "x" for click_id in click_ids]
    sender = _Sender(
        auth=lender.postback_auth, key=lender.postback_key, url=url,
        secret=lender.postback_secret + ("-wrong" if knobs.postback_bad_signature else ""),
        nonce=new_nonce() if knobs.postback_nonce_reused else "",
    )
    batch = [(click_id, status) for click_id in click_ids for status in ladder]
    threading.Thread(target=_send_all, args=(sender, batch), daemon=True).start()
    return len(batch)


def _send_all(sender: _Sender, batch: list[tuple[str, str]]) -> None:
    for click_id, status in batch:
        body = {"click_id": click_id, "status": status, "event_id": f"sbx-{secrets.token_hex(8)}",
                "occurred_at": timezone.now().isoformat(timespec="microseconds")}
        raw = json.dumps(body, ensure_ascii=False).encode()
        if sender.auth == Lender.PostbackAuth.API_KEY:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sender.secret}"}
        else:
            headers = signed_headers(key=sender.key, secret=sender.secret, raw_body=raw, nonce=sender.nonce or None)
        try:
            requests.post(sender.url, data=raw, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        except requests.RequestException as exc:
            logger.info("sandbox postback not delivered: %s", type(exc).__name__)
