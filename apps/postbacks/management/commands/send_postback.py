"""Send a correctly signed postback over HTTP, as the lender would, and print the answer.

    manage.py send_postback --lender CODE --click-id ID --status approved [--url http://127.0.0.1:8000] [--tester]

Staff use it to reproduce what a lender reports; it signs with the production signing code.
"""

import json

import requests
from django.core.management.base import BaseCommand, CommandError

from apps.lenders.models import Lender
from apps.postbacks import contract
from apps.postbacks.models import PostbackEvent
from prosperas.inbound import signing

TIMEOUT_SECONDS = (5, 15)


class Command(BaseCommand):
    help = "Send a signed postback for a lender and print the endpoint's answer."

    def add_arguments(self, parser):
        parser.add_argument("--lender", required=True, help="The lender's code.")
        parser.add_argument("--click-id", required=True, help="Sent exactly as given.")
        parser.add_argument("--status", required=True, choices=PostbackEvent.Status.values)
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The platform's base URL.")
        parser.add_argument("--tester", action="store_true",
                            help="Send to the postback tester: checked the same way, recorded nowhere.")
        parser.add_argument("--amount", help='A decimal string, e.g. "1500000.00".')
        parser.add_argument("--currency", default="COP", help="Sent with --amount (default COP).")
        parser.add_argument("--event-id")
        parser.add_argument("--occurred-at", help="ISO 8601 with an offset.")
        parser.add_argument("--reason")
        parser.add_argument("--lender-reference")

    def handle(self, *args, **options):
        lender = Lender.objects.filter(code=options["lender"]).first()
        if lender is None:
            raise CommandError(f"No lender with code {options['lender']!r}.")
        raw_body = json.dumps(_payload(options), separators=(",", ":"), ensure_ascii=False).encode()
        url = options["url"].rstrip("/") + (contract.TESTER_PATH if options["tester"] else contract.PATH)
        try:
            response = requests.post(
                url, data=raw_body, headers=_auth_headers(lender, raw_body), timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            raise CommandError(f"POST {url} failed: {error}") from error
        self.stdout.write(f"POST {url} -> {response.status_code}")
        self.stdout.write(response.text)


def _payload(options: dict) -> dict:
    payload = {"click_id": options["click_id"], "status": options["status"]}
    optional = ["event_id", "occurred_at", "amount", "reason", "lender_reference"]
    payload.update({name: options[name] for name in optional if options[name] is not None})
    if "amount" in payload:
        payload["currency"] = options["currency"]
    return payload


def _auth_headers(lender: Lender, raw_body: bytes) -> dict[str, str]:
    """The lender's own mode: a signature, or its bearer API key."""
    if lender.postback_auth == Lender.PostbackAuth.API_KEY:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {lender.postback_secret}"}
    return signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
