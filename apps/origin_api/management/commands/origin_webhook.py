"""manage.py origin_webhook <origin code> --environment staging --url https://…/<random part>
manage.py origin_webhook <origin code> --environment staging --rotate-secret [--overlap-hours 24]

Sets the origin's callback URL in that environment (it must hold an unguessable part, and be
HTTPS in production), or rotates its signing secret. Prints one JSON object; a new secret
(`whsec_…`) appears there once and never again (it is stored encrypted, shown nowhere else).
"""

import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.origin_api.callbacks import CallbackUrlInvalid, origin_webhook_set, webhook_secret_rotate
from apps.origin_api.models import Environment, OriginWebhook
from apps.origins.models import Origin


class Command(BaseCommand):
    help = "Set an origin's callback URL, or rotate its signing secret; prints JSON (a new secret, once)."

    def add_arguments(self, parser):
        parser.add_argument("origin_code")
        parser.add_argument("--environment", choices=Environment.values, default=Environment.STAGING)
        parser.add_argument("--url", help="The callback URL to set.")
        parser.add_argument("--rotate-secret", action="store_true", help="Make a new secret; the old one keeps "
                            "signing alongside it for the overlap.")
        parser.add_argument("--overlap-hours", type=float, default=None,
                            help="With --rotate-secret: how long the old secret keeps signing (default: "
                            "ORIGIN_API_ROTATION_OVERLAP_HOURS).")

    def handle(self, *args, origin_code: str, environment: str, url: str | None, rotate_secret: bool,
               overlap_hours: float | None, **options):
        origin = Origin.objects.filter(code=origin_code).first()
        if origin is None:
            raise CommandError(f"No origin has the code {origin_code!r}.")
        if not url and not rotate_secret:
            raise CommandError("Give --url, --rotate-secret, or both.")
        secret = None
        if url:
            try:
                secret = origin_webhook_set(origin=origin, environment=environment, url=url).secret
            except CallbackUrlInvalid as invalid:
                raise CommandError(str(invalid)) from None
        if rotate_secret:
            webhook = OriginWebhook.objects.filter(origin=origin, environment=environment).first()
            if webhook is None:
                raise CommandError("This origin has no callback URL in that environment: set one with --url.")
            overlap = timedelta(hours=overlap_hours) if overlap_hours is not None else None
            secret = webhook_secret_rotate(webhook=webhook, overlap=overlap)
        webhook = OriginWebhook.objects.get(origin=origin, environment=environment)
        self.stdout.write(json.dumps({"origin": origin.code, "environment": environment, "url": webhook.url,
                                      "secret": secret}))
