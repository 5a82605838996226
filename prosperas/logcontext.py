"""What every log line says about where it comes from: the web request's id, and the journey
(lead id, tracking ID) it concerns, carried from the web request into the worker's lines.

- `RequestIdMiddleware` gives each request an id (the proxy's `X-Request-ID` when it is a sane
  one, else a new one), binds it for the request's log lines and answers it in `X-Request-ID`.
- Code that knows the journey binds it (`log_context_bind(lead_id=..., tracking_id=...)`).
- A task published while a context is bound carries it in its message headers
  (`before_task_publish`); the worker binds it for the task's lines (`task_prerun`), together with
  the task's own `lead_id` argument, and unbinds it when the task ends (`task_postrun`).
- `LogContextFilter` (settings.LOGGING) copies the bound fields onto every record, where the JSON
  formatter (production) and the readable one (the demo) print them.

Only identifiers are bound, never personal data: the tracking ID carries none (DESIGN.md §3).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pythonjsonlogger.json
from celery.signals import before_task_publish, task_postrun, task_prerun

if TYPE_CHECKING:  # imported by prosperas/celery.py, before Django is set up
    from django.http import HttpRequest, HttpResponse

FIELDS = ("request_id", "lead_id", "tracking_id")
HEADER = "prosperas_log_context"  # the message header a task carries its context in
# An id a proxy may hand us: letters, digits and - _ . : only, at most 128 characters, so a
# forged header cannot inject anything into a log line.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("prosperas_log_context", default={})  # noqa: B039 - never mutated, only replaced


def log_context() -> dict[str, str]:
    """The fields bound now (a copy)."""
    return dict(_context.get())


def log_context_bind(**fields: object) -> None:
    """Add fields to the current context (None values are left out)."""
    _context.set({**_context.get(), **{name: str(value) for name, value in fields.items() if value is not None}})


def log_context_replace(fields: dict[str, str]) -> contextvars.Token:
    return _context.set(dict(fields))


def log_context_restore(token: contextvars.Token) -> None:
    _context.reset(token)


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if INCOMING_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the middleware list, so every line of the request carries its id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request)
        request.request_id = request_id
        token = log_context_replace({"request_id": request_id})
        try:
            response = self.get_response(request)
        finally:
            log_context_restore(token)
        response["X-Request-ID"] = request_id
        return response


class LogContextFilter(logging.Filter):
    """Copies the bound context onto the record; fields not bound are empty strings, so a format
    string can name them."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, bound.get(name, ""))
        return True


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object a line (production), without the context fields that are empty."""

    def process_log_record(self, log_data: dict) -> dict:
        return {key: value for key, value in log_data.items() if not (key in FIELDS and value == "")}


# --- Celery: the context travels in the task's headers ------------------------------------------


@before_task_publish.connect(dispatch_uid="prosperas.logcontext.publish")
def _publish_with_context(sender=None, headers=None, **_kwargs) -> None:
    bound = _context.get()
    if bound and headers is not None:
        headers[HEADER] = dict(bound)


_task_tokens: dict[str, contextvars.Token] = {}


@task_prerun.connect(dispatch_uid="prosperas.logcontext.prerun")
def _bind_task_context(task_id=None, task=None, kwargs=None, **_other) -> None:
    carried = _carried_context(task)
    if getattr(getattr(task, "request", None), "is_eager", False):
        carried = {**_context.get(), **carried}  # run inside the caller (eager): its context goes on
    lead_id = (kwargs or {}).get("lead_id")
    if lead_id is not None and carried.get("lead_id") not in (None, str(lead_id)):
        carried.pop("tracking_id", None)  # the request's journey is not this task's
    if lead_id is not None:
        carried["lead_id"] = str(lead_id)
    _task_tokens[task_id] = log_context_replace(carried)


@task_postrun.connect(dispatch_uid="prosperas.logcontext.postrun")
def _unbind_task_context(task_id=None, **_other) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            log_context_restore(token)
        except ValueError:  # bound in another context (an eager task run inside a request)
            log_context_replace({})


def _carried_context(task) -> dict[str, str]:
    request = getattr(task, "request", None)
    carried = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER) or {}
    return {name: str(carried[name]) for name in FIELDS if carried.get(name)} if isinstance(carried, dict) else {}
