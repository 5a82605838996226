"""Give a staff user a TOTP device (their second factor) and print what their authenticator app
needs: the otpauth:// URL, and the same as a QR code in the terminal.

    manage.py staff_totp ana            # a new device named "authenticator"
    manage.py staff_totp ana --name spare-phone

It is how the first staff user of a deployment gets in once STAFF_OTP_REQUIRED is on; later
devices can be added in admin (OTP devices), which shows the QR code too.
"""

import io
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Create a TOTP device for a staff user and print its otpauth:// URL and QR code."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="The device's name, to tell several apart.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object instead (for scripts).")

    def handle(self, *args, username: str, name: str, as_json: bool = False, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not user.is_staff:
            raise CommandError(f"{username!r} is not staff: only staff sign in to admin.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        if as_json:
            self.stdout.write(json.dumps({"username": username, "device": name, "otpauth_url": device.config_url}))
            return
        self.stdout.write(f"TOTP device {name!r} for {username}. Scan the QR code, or enter the URL, in an "
                          "authenticator app:\n")
        self.stdout.write(device.config_url + "\n")
        self.stdout.write(_terminal_qr(device.config_url))


def _terminal_qr(text: str) -> str:
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
