"""Invite a lender's person to the portal from the command line (as staff do in admin):

    manage.py partner_invite dev@lender.example lender-code [other-code ...]

The invitation is emailed, and its one-time link printed (for the demo, whose emails stay in
the outbox)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse

from apps.lenders.models import Lender
from apps.partners.services import invitation_create


class Command(BaseCommand):
    help = "Invite a lender's person to the lender portal (/partners/): emails and prints a one-time link."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("lender_codes", nargs="+", help="Codes of the lender rows (environments) to see.")

    def handle(self, *args, email: str, lender_codes: list[str], **options):
        try:
            validate_email(email)
        except ValidationError as error:
            raise CommandError(f"{email!r} is not an email address.") from error
        lenders = list(Lender.objects.filter(code__in=lender_codes))
        missing = sorted(set(lender_codes) - {lender.code for lender in lenders})
        if missing:
            raise CommandError(f"No lender with code {', '.join(missing)}.")
        links = []
        with transaction.atomic():
            invitation_create(email=email, lenders=lenders, invited_by=None, accept_url_for=lambda token: links.append(
                settings.SITE_URL + reverse("partners:invitation", args=[token])) or links[0])
        self.stdout.write(f"Invitation sent to {email} for {', '.join(sorted(lender_codes))}.")
        self.stdout.write(f"One-time link (valid {settings.PARTNER_INVITATION_HOURS} h): {links[0]}")
