"""The waiting pages, live: what they show of a slow wait, and how they learn that something
changed without reloading.

A waiting page names its *live state* (`journey_live_state`): the journey's status, in compare
mode how many lenders have answered, and while a decision is awaited the wait's stage (usual,
slow, retrying: apps/leads/waiting.py). static/js/live.js opens a server-sent event stream
(`events`) that says each new live state as it happens; the script then fetches the page and
swaps its live part in place, keeping the consumer's chosen offer, what they typed, the focus
and the scroll position, and reads the change out through an aria-live region. Without
JavaScript a <noscript> meta refresh reloads the page.

A stream holds one of the web server's threads while it is open (gunicorn's gthread workers),
so each process serves at most settings.FLOW_LIVE_STREAMS_PER_PROCESS at once, each for at most
STREAM_SECONDS (the browser reconnects by itself); a page refused a stream (204) polls the
`state` view instead, once a second. While it waits, a stream gives its database connection
back to the pool between looks (prosperas/db.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from apps.flow.forms import ResultEmailForm
from apps.flow.journeys import journey_page
from apps.flow.selectors import CompareProgress, compare_progress
from apps.leads.models import Lead, LeadStatus
from apps.leads.selectors import JourneyStep, journey_is_waiting, journey_step
from apps.leads.waiting import WaitStage, journey_wait_stage
from prosperas.db import database_released

# How often an open stream looks at the journey: the most a change waits before it is sent.
TICK_SECONDS = 0.1
# A stream ends after this long; the browser opens the next one after RECONNECT_MS.
STREAM_SECONDS = 25.0
RECONNECT_MS = 1000
# A comment line this often, so a stream whose browser has gone fails its write and ends.
KEEPALIVE_SECONDS = 2.0
# What a stream reads of the journey at each look.
LIVE_FIELDS = ("id", "public_token", "status", "compare_mode", "identity_at", "lender_id")


def journey_live_state(lead: Lead, progress: CompareProgress | None = None, stage: str | None = None) -> str:
    """What the waiting page shows, as a string that changes whenever the page would (`stage`:
    the wait's stage when the caller has read it already)."""
    stage = journey_wait_stage(lead) if stage is None else stage
    state = f"{lead.status}:{stage}" if stage else str(lead.status)
    if lead.compare_mode and journey_step(lead) == JourneyStep.DECISION:
        progress = progress or compare_progress(lead=lead)
        return f"{state}:{progress.poll_state}"
    return state


def live_waiting(lead: Lead, progress: CompareProgress | None = None) -> bool:
    """Whether the page still changes by itself: a lender is still to answer."""
    if journey_is_waiting(lead):
        return True
    if lead.compare_mode and lead.status == LeadStatus.OFFERED:
        return not (progress or compare_progress(lead=lead)).complete
    return False


def waiting_context(lead: Lead, *, progress: CompareProgress | None = None,
                    email_form: ResultEmailForm | None = None) -> dict:
    """What a decision page needs to tell a wait as it is: its stage, its live state, and the
    offer to leave and be emailed the decision (once the wait is slow, or the lender reviews)."""
    stage = journey_wait_stage(lead)
    offer_email = stage in (WaitStage.SLOW, WaitStage.RETRYING) or lead.status == LeadStatus.DECISION_PENDING
    return {
        "stage": stage,
        "poll_state": journey_live_state(lead, progress, stage),
        "offer_result_email": offer_email,
        "result_email_requested": lead.result_email_requested_at is not None,
        "email_form": email_form or ResultEmailForm(initial={"email": lead.email}),
    }


_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def _stream_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.FLOW_LIVE_STREAMS_PER_PROCESS)
        return _slots


class LiveStream:
    """The event stream's body: one `data:` line per new live state. It holds a stream slot
    from creation until Django closes it (the stream ended, or the browser went away), whether
    or not it was ever iterated."""

    def __init__(self, *, lead_id: int, shown: str, slots: threading.BoundedSemaphore):
        self.lead_id, self.shown, self._slots = lead_id, shown, slots
        self._released = False

    def __iter__(self) -> Iterator[bytes]:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        started = last_write = time.monotonic()
        while time.monotonic() - started < STREAM_SECONDS:
            lead = Lead.objects.only(*LIVE_FIELDS).filter(pk=self.lead_id).first()
            if lead is None:
                return
            state = journey_live_state(lead)
            if state != self.shown:
                self.shown, last_write = state, time.monotonic()
                yield f"data: {state}\n\n".encode()
            if not live_waiting(lead):
                return
            if time.monotonic() - last_write >= KEEPALIVE_SECONDS:
                last_write = time.monotonic()
                yield b": waiting\n\n"
            with database_released():
                time.sleep(TICK_SECONDS)

    def close(self) -> None:
        if not self._released:
            self._released = True
            self._slots.release()


@journey_page(JourneyStep.DECISION)
def events(request: HttpRequest, lead: Lead) -> HttpResponse:
    """The waiting page's event stream (text/event-stream). `shown` is the live state the page
    shows. 204 when there is nothing left to wait for, or no stream slot is free: the browser's
    EventSource then stops, and the page polls `state` instead."""
    if not live_waiting(lead):
        return HttpResponse(status=204)
    slots = _stream_slots()
    if not slots.acquire(blocking=False):
        return HttpResponse(status=204)
    stream = LiveStream(lead_id=lead.pk, shown=request.GET.get("shown", "")[:100], slots=slots)
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each event on at once
    return response
