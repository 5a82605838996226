"""manage.py lender_conformance <lender code> [--environment staging]: run the conformance kit
against the lender's row of that environment here (the same code the Celery task runs), print a
readable report, and end with one JSON line: {"passed": N, "failed": N, ...}."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.conformance.models import Certificate
from apps.conformance.runner import conformance_run_execute
from apps.conformance.services import conformance_run_start
from apps.lenders.models import Lender


class Command(BaseCommand):
    help = "Run the lender conformance kit and print its report (last line: JSON with passed and failed)."

    def add_arguments(self, parser):
        parser.add_argument("lender", help="The lender's code (either of its rows).")
        parser.add_argument("--environment", default=Lender.Environment.STAGING, choices=Lender.Environment.values)

    def handle(self, *args, lender: str, environment: str, **options):
        row = Lender.objects.filter(code=lender).first()
        if row is None:
            raise CommandError(f"No lender with code {lender!r}.")
        try:
            run = conformance_run_start(lender=row, environment=environment, enqueue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        run = conformance_run_execute(run)
        self.stdout.write(f"Conformance run {run.pk} of {run.lender} — {run.get_status_display()}")
        for check in run.checks:
            self.stdout.write(f"  [{check['status'].upper():>14}] {check['title']}")
            self.stdout.write(f"                   {check['summary']}")
        if run.error:
            self.stdout.write(f"  error: {run.error}")
        certificate = Certificate.objects.filter(run=run).first()
        if certificate:
            self.stdout.write(f"Certificate {certificate.pk} valid until {certificate.expires_at:%Y-%m-%d}.")
        self.stdout.write(json.dumps({"run": run.pk, "lender": run.lender.code, "status": run.status,
                                      "passed": run.passed, "failed": run.failed,
                                      "certificate": certificate.pk if certificate else None}))
