from celery import shared_task

from apps.postbacks.services import postback_nonces_purge


@shared_task(soft_time_limit=60, time_limit=90)
def purge_expired_nonces(**kwargs) -> int:
    """Beat runs this every 5 minutes (prosperas/celery_config.py)."""
    return postback_nonces_purge()
