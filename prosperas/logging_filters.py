"""Logging filters (settings.LOGGING)."""

import logging
import re

# Celery writes three INFO lines for every run of a task: beat's "Sending due task", the worker's
# "received" and "succeeded". The postbacks' follow-ups run every couple of seconds and mostly
# find nothing to do: that would be some 130,000 lines a day saying nothing.
QUIET_TASK = "follow_up_postbacks"
QUIET_SCHEDULE_ENTRY = "follow-up-postbacks"
NOTHING_DONE = re.compile(r"succeeded in [0-9.e-]+s: 0$")


class QuietFollowUps(logging.Filter):
    """Drops the INFO lines of follow-up runs that did nothing; a run that followed up events
    ("succeeded ...: 3"), and every warning or error, is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery"):
            return True
        message = record.getMessage()
        if QUIET_SCHEDULE_ENTRY in message:
            return False  # beat: Sending due task follow-up-postbacks (...)
        if QUIET_TASK not in message:
            return True
        return not (message.endswith(" received") or NOTHING_DONE.search(message))
