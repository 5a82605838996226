from celery import shared_task


@shared_task
def lender_prequalify(*, lead_id: int, lender_id: int, **kwargs) -> None:
    raise NotImplementedError


@shared_task
def lender_submit(*, lead_id: int, **kwargs) -> None:
    raise NotImplementedError
