"""Log lines: the request id and the journey on every record, JSON in production without empty
fields, and the context a task's message carries bound in the worker (prosperas/logcontext.py)."""

import json
import logging
from types import SimpleNamespace

from prosperas import logcontext


def record(message: str = "lender call done") -> logging.LogRecord:
    return logging.LogRecord("apps.lenders.calls", logging.INFO, __file__, 1, message, None, None)


def formatted_json(line: logging.LogRecord) -> dict:
    formatter = logcontext.JsonFormatter(
        ["asctime", "levelname", "name", "message", "request_id", "lead_id", "tracking_id"],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    logcontext.LogContextFilter().filter(line)
    return json.loads(formatter.format(line))


def test_a_json_line_carries_the_bound_context_and_leaves_out_what_is_not_bound():
    token = logcontext.log_context_replace({"request_id": "req-1234abcd"})
    try:
        logcontext.log_context_bind(lead_id=42, tracking_id=None)
        line = formatted_json(record())
    finally:
        logcontext.log_context_restore(token)

    assert line["request_id"] == "req-1234abcd" and line["lead_id"] == "42"
    assert "tracking_id" not in line
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "apps.lenders.calls", "lender call done")


def test_outside_any_request_the_fields_are_empty_so_the_readable_format_still_works():
    line = record()
    logcontext.LogContextFilter().filter(line)
    text = logging.Formatter("%(levelname)s [%(request_id)s %(lead_id)s] %(message)s").format(line)
    assert text == "INFO [ ] lender call done"


def test_a_published_task_carries_the_context_and_the_worker_binds_it_with_the_tasks_own_lead():
    headers: dict = {}
    token = logcontext.log_context_replace({"request_id": "req-5678efgh", "lead_id": "7", "tracking_id": "mv_1"})
    try:
        logcontext._publish_with_context(sender="apps.lenders.tasks.lender_prequalify", headers=headers)
    finally:
        logcontext.log_context_restore(token)
    task = SimpleNamespace(request=SimpleNamespace(**headers))

    logcontext._bind_task_context(task_id="t-1", task=task, kwargs={"lead_id": 7})
    in_task = logcontext.log_context()
    logcontext._unbind_task_context(task_id="t-1")

    assert in_task == {"request_id": "req-5678efgh", "lead_id": "7", "tracking_id": "mv_1"}
    assert logcontext.log_context() == {}

    logcontext._bind_task_context(task_id="t-2", task=task, kwargs={"lead_id": 8})  # another journey's task
    assert logcontext.log_context() == {"request_id": "req-5678efgh", "lead_id": "8"}
    logcontext._unbind_task_context(task_id="t-2")


def test_a_task_run_eagerly_inside_a_request_keeps_the_requests_context():
    token = logcontext.log_context_replace({"request_id": "req-eager-0001"})
    try:
        task = SimpleNamespace(request=SimpleNamespace(is_eager=True))
        logcontext._bind_task_context(task_id="t-3", task=task, kwargs={"lead_id": 9})
        in_task = logcontext.log_context()
        logcontext._unbind_task_context(task_id="t-3")
        after = logcontext.log_context()
    finally:
        logcontext.log_context_restore(token)

    assert in_task == {"request_id": "req-eager-0001", "lead_id": "9"}
    assert after == {"request_id": "req-eager-0001"}
