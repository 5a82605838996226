from celery import shared_task

from apps.postbacks.services import postback_follow_ups_run, postback_nonces_purge


@shared_task(soft_time_limit=60, time_limit=90)
def purge_expired_nonces(**kwargs) -> int:
    """Beat runs this every 5 minutes (prosperas/celery_config.py): expired nonces. (Counted
    refusals go with the daily purge of data past its retention: apps/lifecycle.)"""
    return postback_nonces_purge()


@shared_task(soft_time_limit=50, time_limit=60)
def follow_up_postbacks(**kwargs) -> int:
    """Beat runs this every POSTBACK_FOLLOW_UP_INTERVAL_SECONDS: the emails and result charges of
    the postbacks that moved a lead since the last run."""
    return postback_follow_ups_run()
