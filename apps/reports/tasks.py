from celery import shared_task

from apps.reports.rollups import rollups_refresh


@shared_task(soft_time_limit=240, time_limit=280)
def refresh_rollups(**kwargs) -> dict:
    """Beat runs this every REPORTS_ROLLUP_INTERVAL_SECONDS: the dashboards' rollups brought up to
    date from the rows written since the last run (apps/reports/rollups.py)."""
    return rollups_refresh()
