"""Purge every kind of data past its retention (README "Data life cycle"), or say what it would.

    manage.py purge_data --dry-run [-v 2] [--as-of 2026-12-03T03:00:00+00:00]
    manage.py purge_data [--as-of ...] [--batch-size 500]

The dry run prints, per kind of data, what would be deleted, blanked or anonymised (with -v 2,
the primary keys) and the moment it was computed for; the purge run with that `--as-of` acts on
exactly those rows (less any that changed meanwhile, which are left).
"""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.lifecycle.services import data_purge, data_purge_plan

VERBS = {"delete": ("would delete", "deleted"), "blank": ("would blank", "blanked"),
         "anonymise": ("would anonymise", "anonymised")}


def _moment(text: str | None) -> datetime:
    if not text:
        return timezone.now()
    moment = parse_datetime(text)
    if moment is None or timezone.is_naive(moment):
        raise CommandError("--as-of must be an ISO 8601 date-time with an offset, e.g. 2026-12-03T03:00:00+00:00.")
    return moment


class Command(BaseCommand):
    help = "Delete, blank or anonymise data past its retention; --dry-run says what, without touching anything."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be purged (-v 2: which rows).")
        parser.add_argument("--as-of", help="Purge as of this moment (ISO 8601 with offset) instead of now.")
        parser.add_argument("--batch-size", type=int, help="Rows per transaction (RETENTION_BATCH_SIZE).")

    def handle(self, *args, **options):
        now = _moment(options["as_of"])
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        dry_run = options["dry_run"]
        verbose = options["verbosity"] >= 2
        self.stdout.write(f"{'Dry run' if dry_run else 'Purge'} as of {now.isoformat()}")

        def on_batch(purge, pks) -> None:
            if verbose:
                self.stdout.write(f"  {purge.kind} {purge.action} {purge.label} ids: {', '.join(map(str, pks))}")

        run = data_purge_plan if dry_run else data_purge
        for result in run(now=now, batch_size=options["batch_size"], on_batch=on_batch):
            purge = result.purge
            verb = VERBS[purge.action][0 if dry_run else 1]
            if result.cutoff is None:
                self.stdout.write(f"{purge.kind}: kept for ever (retention 0): {purge.description}")
                continue
            self.stdout.write(f"{purge.kind}: {verb} {result.count} {purge.label} "
                              f"(before {result.cutoff.isoformat()}): {purge.description}")
        if dry_run:
            self.stdout.write(f"To purge exactly this: manage.py purge_data --as-of {now.isoformat()}")
