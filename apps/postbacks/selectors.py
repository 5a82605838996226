"""Reads about postbacks: what an unmatched click_id looks like, and a lead's public timeline.

`click_id_lookalike` helps a lender whose postbacks come back 404: it says which mangling the
click_id looks like (letter case, whitespace, invisible characters, braces, removed dashes,
prefix, truncation, percent-encoding, Unicode normalization) when one of that lender's journeys would match once the mangling is undone.
It only ever explains; matching stays byte for byte (DESIGN.md §3).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import unquote

from django.db.models import Q

from apps.leads.models import Lead
from apps.lenders.models import Lender
from apps.origins.models import Origin
from apps.postbacks.models import PostbackEvent

# What each mangling did to the click_id, as the 404 says it: "... looks like one of your
# click_ids <description>".
MANGLINGS = {
    "percent_encoded": "left percent-encoded (%xx) from the URL",
    "invisible_characters": "with invisible characters added (zero-width spaces, a byte-order mark)",
    "wrapped_in_braces": "wrapped in braces { }",
    "dashes_removed": "with the dashes of its UUID removed",
    "unicode_normalized": "with characters changed by Unicode normalization",
    "whitespace": "with whitespace added around it",
    "letter_case": "with its letter case changed",
    "prefix_stripped": "without its prefix (the part up to the underscore)",
    "prefix_added": "with something added in front of it",
    "prefix_changed": "with another prefix before the underscore",
    "truncated": "cut short",
}

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# A shorter piece would resemble too many click_ids to say anything useful.
TRUNCATED_MIN_LENGTH = 8
CANDIDATES_LIMIT = 5


def click_id_lookalike(*, lender: Lender, click_id: str) -> list[str]:
    """The manglings (keys of MANGLINGS) after which one of `lender`'s journeys would match this
    click_id, or [] when none would. A few indexed queries at most, each limited to a few rows."""
    cleaned, undone = _manglings_undo(click_id)
    for candidate in _candidates(lender=lender, cleaned=cleaned):
        relation = _relation(cleaned, candidate)
        if relation is not None and (undone or relation):
            return undone + relation
    return []


def lookalike_sentence(manglings: list[str]) -> str:
    """The sentence the 404 adds, or "" when nothing looks alike."""
    if not manglings:
        return ""
    described = " and ".join(MANGLINGS[name] for name in manglings)
    return (f" It looks like the click_id of one of your applications {described}: "
            "send it back exactly as we sent it to you.")


def _manglings_undo(click_id: str) -> tuple[str, list[str]]:
    """Undo, in the order they usually happen, the manglings that can be undone on the value
    alone; the ones that need a candidate to compare with are found by `_relation`."""
    value, undone = click_id, []
    for name, undo in UNDO_STEPS:
        changed = undo(value)
        if changed != value:
            value = changed
            undone.append(name)
    return value, undone


def _percent_decode(value: str) -> str:
    # Twice: a value encoded twice ("%255F") is as common as once.
    return unquote(unquote(value)) if "%" in value else value


# Characters that print as nothing, which copying from a document or a spreadsheet adds.
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
# A UUID's 32 hexadecimal digits with its dashes taken out, on its own.
UNDASHED_UUID = re.compile(
    r"(?<![0-9a-f])([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})(?![0-9a-f])", re.IGNORECASE)


def _unbraced(value: str) -> str:
    return value[1:-1] if len(value) > 2 and value.startswith("{") and value.endswith("}") else value


def _dashes_restored(value: str) -> str:
    if UUID_PATTERN.search(value):
        return value
    return UNDASHED_UUID.sub(lambda found: "-".join(found.groups()), value, count=1)


UNDO_STEPS: list[tuple[str, Callable[[str], str]]] = [
    ("percent_encoded", _percent_decode),
    ("invisible_characters", lambda value: INVISIBLE.sub("", value)),
    ("unicode_normalized", lambda value: unicodedata.normalize("NFKC", value)),
    ("whitespace", str.strip),
    ("wrapped_in_braces", _unbraced),
    ("dashes_removed", _dashes_restored),
]


def _candidates(*, lender: Lender, cleaned: str) -> list[str]:
    """Tracking IDs of this lender's journeys that the cleaned click_id may be a mangling of.

    Tracking IDs are a UUID or `<origin code>_<UUID>` (DESIGN.md §3), so a click_id holding a
    whole UUID is looked up by equality with each form, on the unique index; a shorter one by
    prefix (a truncation), which PostgreSQL serves from the same column's pattern index.
    """
    journeys = Lead.objects.filter(lender=lender)
    found = UUID_PATTERN.search(cleaned)
    if found:
        uuid = found.group().lower()
        codes = list(Origin.objects.values_list("code", flat=True)[:1000])
        forms = [uuid, *(f"{code}_{uuid}" for code in codes)]
        query = journeys.filter(tracking_id__in=forms)
    elif len(cleaned) >= TRUNCATED_MIN_LENGTH:
        query = journeys.filter(Q(tracking_id__startswith=cleaned) | Q(tracking_id__startswith=cleaned.lower()))
    else:
        return []
    return list(query.order_by("tracking_id").values_list("tracking_id", flat=True)[:CANDIDATES_LIMIT])


def _relation(received: str, candidate: str) -> list[str] | None:
    """How `received` differs from `candidate`: [] when equal, a list of manglings, or None when
    they are not related. Each relation, simplest first, is tried as given, then ignoring case."""
    for name, related in RELATIONS:
        for case_changed, mine, theirs in ((False, received, candidate),
                                           (True, received.lower(), candidate.lower())):
            if related(mine, theirs):
                return (["letter_case"] if case_changed else []) + ([name] if name else [])
    return None


def _after_underscore(value: str) -> str:
    return value.split("_", 1)[1] if "_" in value else ""


RELATIONS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("", lambda received, candidate: received == candidate),
    ("prefix_stripped", lambda received, candidate: candidate.endswith("_" + received)),
    ("prefix_added", lambda received, candidate: len(received) > len(candidate) and received.endswith(candidate)),
    ("prefix_changed", lambda received, candidate: bool(_after_underscore(received))
     and _after_underscore(received) == _after_underscore(candidate)),
    ("truncated", lambda received, candidate: len(received) >= TRUNCATED_MIN_LENGTH
     and len(received) < len(candidate) and candidate.startswith(received)),
]


# --- The consumer's view of their application ---------------------------------------------------


@dataclass(frozen=True)
class PublicTimelineEntry:
    """One status the lender reported that moved the application. Safe to show the consumer:
    no lender reasons, references or metadata (the lender's own words are for staff)."""

    status: str
    occurred_at: datetime
    amount: Decimal | None
    currency: str


def lead_timeline_public(lead: Lead) -> list[PublicTimelineEntry]:
    """The statuses that really moved `lead` (repeats, no-change and contradicting events left
    out), oldest first, for the consumer's status page."""
    events = (
        PostbackEvent.objects.filter(lead=lead, effect=PostbackEvent.Effect.APPLIED)
        .order_by("occurred_at", "id")
        .values_list("status", "occurred_at", "amount", "currency")
    )
    return [PublicTimelineEntry(status=status, occurred_at=occurred_at, amount=amount, currency=currency)
            for status, occurred_at, amount, currency in events]


def postback_follow_up_backlog(*, now: datetime) -> tuple[int, float]:
    """Applied events whose follow-up (email, result charge) is still due, and the age in seconds
    of the oldest: both from the partial index of due events, which holds only those."""
    due = PostbackEvent.objects.filter(followed_up_at__isnull=True)
    oldest = due.order_by("id").values_list("received_at", flat=True).first()
    return due.count(), (now - oldest).total_seconds() if oldest is not None else 0.0
