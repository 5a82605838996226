"""The staff admin site: Django admin behind a second factor (TOTP, django-otp).

With STAFF_OTP_REQUIRED (the default outside DEBUG) only a staff user verified by one of their
OTP devices in this session is let in, and the login page asks for the code; the demo and the
test suite leave it optional. A staff user's first device is made with
`manage.py staff_totp <username>` (apps/backoffice), later ones in admin (OTP devices, with the
QR code to scan).
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code, on one page: a staff user with a single device (the
    usual case) need not pick it first. With several, they pick one, as django-otp asks (it
    never tries each in turn: a failure would throttle devices that were not used)."""

    def _chosen_device(self, user):
        chosen = super()._chosen_device(user)
        if chosen is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                return devices[0]
        return chosen


class StaffAdminSite(OTPAdminSite):
    site_header = "Prosperas · staff"
    site_title = "Prosperas staff"
    index_title = "Marketplace administration"

    def __init__(self, name: str = "admin"):
        super().__init__(name)

    def has_permission(self, request) -> bool:
        if settings.STAFF_OTP_REQUIRED:
            return super().has_permission(request)  # an active staff user, verified by a device
        return AdminSite.has_permission(self, request)

    def login(self, request, extra_context=None):
        # The form and template are chosen per request, so the setting can change at run time
        # (the tests turn it on and off) without another site instance.
        required = settings.STAFF_OTP_REQUIRED
        self.login_form = StaffLoginForm if required else AdminAuthenticationForm
        self.login_template = OTPAdminSite.login_template if required else None
        return super().login(request, extra_context)
