"""Celery configuration, derived from Django settings (read by prosperas/celery.py)."""

from celery.schedules import crontab
from django.conf import settings

broker_url = settings.CELERY_BROKER_URL
task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
task_eager_propagates = True
task_serializer = "json"
accept_content = ["json"]
result_backend = None
task_ignore_result = True
timezone = settings.TIME_ZONE

# A task is acknowledged only once it has run, and a task whose worker died is given back, so
# a lost worker does not lose a lender call; the sweep covers what the broker loses anyway.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False

# A broker outage is waited out, not fatal: the worker reconnects for as long as it takes, also
# when the broker is not up yet at its start (Celery's default gives up after 100 tries, about
# 50 minutes). Should kombu still fail while reconnecting (kombu#582, celery#9250), the process
# exits and its supervisor starts a new one (prosperas/supervise.py; restart policies in compose).
broker_connection_retry = True
broker_connection_retry_on_startup = True
broker_connection_max_retries = None
# Tasks running when the connection drops are left to finish: a threads pool cannot cancel them
# (Celery would try, fail and log an error per task), their results go to the database, and a
# message they could not acknowledge comes back after the visibility timeout to find its work
# done. Cancelling on connection loss is also what crashes a worker on reconnection (celery#9250).
worker_cancel_long_running_tasks_on_connection_loss = False

task_default_queue = "default"
# The lender tasks keep their names from before they moved to apps/leads/tasks.py (enqueue.py).
# Telling a lender of a consumer's revocation is a lender call too (apps/leads/revocation.py).
# Callbacks to origins have a queue of their own, so they are never held behind lender calls.
task_routes = {"apps.lenders.tasks.*": {"queue": "lender_calls"},
               "apps.leads.tasks.revocation_notice_send_task": {"queue": "lender_calls"},
               "apps.origin_api.tasks.*": {"queue": "origin_callbacks"}}

broker_transport_options: dict = {
    # Longer than the longest task (30 s deadline) plus every retry delay (backoff capped at 60 s).
    "visibility_timeout": 60 * 60,
    # A publisher (a web request enqueueing on commit) that cannot reach the broker gives up
    # within about a second instead of holding the consumer's page: the work is stored as due,
    # and the sweep enqueues it again (apps/leads/enqueue.py).
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
if settings.CELERY_BROKER_KEYPREFIX:
    broker_transport_options["global_keyprefix"] = settings.CELERY_BROKER_KEYPREFIX

beat_schedule = {
    "sweep-lender-work": {
        "task": "apps.lenders.tasks.sweep_due_work",
        "schedule": settings.LENDER_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": settings.LENDER_SWEEP_INTERVAL_SECONDS},
    },
    "purge-postback-nonces": {"task": "apps.postbacks.tasks.purge_expired_nonces", "schedule": 300.0},
    # What applied postbacks set off (emails, result charges), done off the lender's request.
    "follow-up-postbacks": {
        "task": "apps.postbacks.tasks.follow_up_postbacks",
        "schedule": settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS,
        # A run later than the next one is pointless: the next one does its work.
        "options": {"expires": settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS},
    },
    # Callbacks due again (retries, lost tasks) and origins' searches that reached their deadline.
    "sweep-origin-callbacks": {
        "task": "apps.origin_api.tasks.sweep_callbacks",
        "schedule": settings.ORIGIN_CALLBACK_SWEEP_SECONDS,
        "options": {"expires": settings.ORIGIN_CALLBACK_SWEEP_SECONDS},
    },
    "sweep-lead-notifications": {"task": "apps.leads.tasks.sweep_pending_notifications", "schedule": 300.0},
    # The marketplace's alerts (apps/backoffice/alerts.py): opened, refreshed and cleared.
    "evaluate-alerts": {
        "task": "apps.backoffice.tasks.evaluate_alerts",
        "schedule": settings.ALERT_EVALUATE_INTERVAL_SECONDS,
        "options": {"expires": settings.ALERT_EVALUATE_INTERVAL_SECONDS},
    },
    # The dashboards' daily rollups (apps/reports/rollups.py): incremental, so a skipped run is harmless.
    "refresh-report-rollups": {
        "task": "apps.reports.tasks.refresh_rollups",
        "schedule": settings.REPORTS_ROLLUP_INTERVAL_SECONDS,
        "options": {"expires": settings.REPORTS_ROLLUP_INTERVAL_SECONDS},
    },
    # Retention (apps/lifecycle): once a day, at a quiet hour of the marketplace's time zone.
    "purge-expired-data": {
        "task": "apps.lifecycle.tasks.purge_expired_data",
        "schedule": crontab(hour=settings.RETENTION_PURGE_HOUR, minute=17),
    },
}
