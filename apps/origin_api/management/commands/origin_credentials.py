"""manage.py origin_credentials <origin code> --environment staging

Makes a new OAuth2 client for the origin in that environment and prints one JSON object,
{"client_id", "client_secret", ...}: the only time the secret is shown (it is stored hashed).
The origin's earlier clients there keep working for the overlap, then stop (a rotation).
"""

import json
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.origin_api.models import Environment
from apps.origin_api.selectors import origin_clients
from apps.origin_api.services import origin_client_create
from apps.origins.models import Origin


class Command(BaseCommand):
    help = "Make an OAuth2 client for an origin's API access and print its client_id and client_secret as JSON."

    def add_arguments(self, parser):
        parser.add_argument("origin_code")
        parser.add_argument("--environment", choices=Environment.values, default=Environment.STAGING)
        parser.add_argument(
            "--overlap-hours", type=float, default=None,
            help="How long the origin's earlier clients in this environment keep working "
            f"(default: ORIGIN_API_ROTATION_OVERLAP_HOURS, {settings.ORIGIN_API_ROTATION_OVERLAP_HOURS}); "
            "0 stops them now.")
        parser.add_argument("--if-missing", action="store_true", help="Make one only when the origin has no active "
                            "client in this environment; else print that client's client_id with a null secret "
                            "(for the demo's seeding, which runs again and again).")

    def handle(self, *args, origin_code: str, environment: str, overlap_hours: float | None, if_missing: bool = False,
               **options):
        origin = Origin.objects.filter(code=origin_code).first()
        if origin is None:
            raise CommandError(f"No origin has the code {origin_code!r}.")
        active = [client for client in origin_clients(origin=origin, environment=environment) if client.is_active()]
        if if_missing and active:
            self.stdout.write(json.dumps({"origin": origin.code, "environment": environment,
                                          "client_id": active[0].application.client_id, "client_secret": None}))
            return
        overlap = timedelta(hours=overlap_hours) if overlap_hours is not None else None
        issued = origin_client_create(origin=origin, environment=environment, overlap=overlap)
        self.stdout.write(json.dumps({
            "origin": origin.code, "environment": environment,
            "client_id": issued.client_id, "client_secret": issued.client_secret,
        }))
