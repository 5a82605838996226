from celery import shared_task

from apps.lifecycle.services import data_purge_scheduled


@shared_task
def purge_expired_data(**kwargs) -> dict:
    """Beat runs this once a day (prosperas/celery_config.py, RETENTION_PURGE_HOUR). A long run
    is batches of short transactions; the threads pool ignores time limits, so none is set."""
    results = data_purge_scheduled() or []
    return {f"{result.purge.kind}:{result.purge.action}": result.count for result in results}
