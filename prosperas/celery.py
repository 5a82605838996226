"""Celery application.

Lender calls run on their own queue (`lender_calls`) served by a threads pool: they spend their
time waiting on HTTP, and STACK-NOTES.md measured threads as the pool that handles 50 slow calls
in 2.4 s on 100 MB. Everything else goes to `default`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prosperas.settings")

from prosperas import logcontext  # noqa: E402,F401 - carries the log context into tasks' headers

app = Celery("prosperas")
app.config_from_object("prosperas.celery_config")
app.autodiscover_tasks()
