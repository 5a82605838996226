"""A consumer's data request by document number (README "Data life cycle").

    manage.py consumer_data export 1020304050 [--output FILE]   # JSON of everything we hold, decrypted
    manage.py consumer_data erase 1020304050 --yes               # personal data removed; ledger kept

The number is read from the argument, or from standard input when the argument is "-" (so it
stays out of the shell's history). Both are recorded in the audit log and as a DataRequest.
"""

import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.lifecycle.data_requests import DataRequestRefused, consumer_data_erase, consumer_data_export


class Command(BaseCommand):
    help = "Export (JSON) or erase everything held about a consumer, by document number."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["export", "erase"])
        parser.add_argument("document_number", help='The document number, or "-" to read it from standard input.')
        parser.add_argument("--output", help="Export: write the JSON to this file (default: standard output).")
        parser.add_argument("--yes", action="store_true", help="Erase: confirm (erasure cannot be undone).")
        parser.add_argument("--actor", help="Staff username recorded as having served the request.")

    def handle(self, *args, **options):
        number = sys.stdin.readline().strip() if options["document_number"] == "-" else options["document_number"]
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"], is_staff=True).first()
            if actor is None:
                raise CommandError(f"No staff user {options['actor']!r}.")
        try:
            if options["kind"] == "export":
                data = json.dumps(consumer_data_export(document_number=number, actor=actor), ensure_ascii=False,
                                  indent=2)
                if options["output"]:
                    with open(options["output"], "w", encoding="utf-8") as handle:
                        handle.write(data)
                    self.stderr.write(f"Wrote {options['output']}.")
                else:
                    self.stdout.write(data)
                return
            if not options["yes"]:
                raise CommandError("Erasure cannot be undone: add --yes to confirm.")
            result = consumer_data_erase(document_number=number, actor=actor)
        except DataRequestRefused as refusal:
            raise CommandError(str(refusal)) from None
        counts = ", ".join(f"{name} {count}" for name, count in result.counts.items())
        self.stdout.write(f"Erased the personal data of {len(result.lead_ids)} journey(s): {counts}.")
