"""The conformance run's task: takes the run's id, runs the kit (seconds to a minute or two)."""

from celery import shared_task

from apps.conformance.models import ConformanceRun
from apps.conformance.runner import conformance_run_execute
from apps.conformance.services import RUN_TIME_LIMIT

# A run waits on a lender's decisions and postbacks: several minutes at most.
RUN_SOFT_TIME_LIMIT = RUN_TIME_LIMIT - 60


@shared_task(name="apps.conformance.tasks.conformance_run", acks_late=True, soft_time_limit=RUN_SOFT_TIME_LIMIT,
             time_limit=RUN_TIME_LIMIT)
def conformance_run(*, run_id: int, **kwargs) -> str:
    run = ConformanceRun.objects.filter(pk=run_id).first()
    if run is None:
        return "no such run"
    return conformance_run_execute(run).status
