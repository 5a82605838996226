"""Bring the dashboards' rollups up to date now, or rebuild a period (a backfill):

    manage.py reports_rollup                                   # what beat runs
    manage.py reports_rollup --from 2026-11-01 --to 2026-11-30 # rebuild these days
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from apps.reports.rollups import ROLLUPS, rollups_rebuild, rollups_refresh


class Command(BaseCommand):
    help = "Refresh the dashboards' daily rollups, or rebuild the days of a period."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from")
        parser.add_argument("--to", dest="date_to")
        parser.add_argument("--kind", action="append", choices=sorted(ROLLUPS))

    def handle(self, *args, date_from=None, date_to=None, kind=None, **options):
        if bool(date_from) != bool(date_to):
            raise CommandError("--from and --to go together")
        if date_from:
            first, last = parse_date(date_from), parse_date(date_to)
            if first is None or last is None or first > last:
                raise CommandError("--from and --to are dates (YYYY-MM-DD), --from first")
            result = rollups_rebuild(date_from=first, date_to=last, kinds=kind)
            self.stdout.write(f"rows rebuilt: {result}")
        else:
            self.stdout.write(f"days rebuilt: {rollups_refresh(kinds=kind)}")
