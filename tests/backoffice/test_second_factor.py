"""Staff sign in to admin with a second factor (TOTP) where it is required, as in production;
repeated failed logins lock the username out from that address."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.conftest import ROOT

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def otp_required(settings):
    settings.STAFF_OTP_REQUIRED = True


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_superuser("ana.staff", "ana.staff@prosperas.test", PASSWORD)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_token(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def login(client, *, token: str = "", password: str = PASSWORD, address: str = "10.0.0.7", device: str = ""):
    data = {"username": "ana.staff", "password": password, "otp_device": device, "otp_token": token}
    return client.post(reverse("admin:login"), data, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_a_password_alone_does_not_open_admin_where_the_second_factor_is_required(client, staff, otp_required):
    user, _ = staff
    client.force_login(user)  # signed in, not verified by a device

    page = client.get(reverse("admin:index"))
    assert page.status_code == 302 and reverse("admin:login") in page["Location"]

    refused = login(client)
    assert refused.status_code == 200 and b"otp_token" in refused.content
    assert client.get(reverse("admin:index")).status_code == 302


@pytest.mark.django_db
def test_the_password_and_the_current_code_open_admin(client, staff, otp_required):
    _, device = staff
    assert login(client, token=current_token(device)).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.django_db
def test_with_several_devices_the_staff_user_picks_the_one_whose_code_they_give(client, staff, otp_required):
    user, phone = staff
    spare = TOTPDevice.objects.create(user=user, name="spare", confirmed=True)
    picked = login(client, token=current_token(spare))
    assert picked.status_code == 200 and b"select a device" in picked.content.lower()
    assert login(client, token=current_token(spare), device=spare.persistent_id).status_code == 302


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_the_device_throttles_the_next_tries(client, staff, otp_required, settings):
    # A wait of a minute per failure (production's factor is 1 s), so a slow machine's logins
    # cannot outlast the throttle between tries.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    _, device = staff
    wrong = "000000" if current_token(device) != "000000" else "111111"
    for _ in range(3):
        refused = login(client, token=wrong)
        assert refused.status_code == 200 and client.get(reverse("admin:index")).status_code == 302
    # django-otp makes each failure double the wait before the next try counts, and tries within
    # the wait are refused uncounted: guessing is slow, and even the right code is refused meanwhile.
    assert login(client, token=current_token(device)).status_code == 200
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1


@pytest.mark.django_db
def test_failed_logins_lock_the_username_out_from_that_address(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, password="wrong")
    locked = login(client)  # the right password, too late
    assert locked.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302
    # Another address is not locked out by these failures.
    assert login(client, address="10.0.0.8").status_code == 302


def test_production_settings_require_the_second_factor_and_warn_when_it_is_turned_off():
    environment = {
        **{name: value for name, value in os.environ.items() if name not in ("PYTEST_VERSION", "CI", "DJANGO_ALLOW_ASYNC_UNSAFE")},
        "DEBUG": "false", "PROSPERAS_TESTING": "false", "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "prosperas.example",
        "SANDBOX_ENABLED": "false",
    }
    shown = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                            "from django.conf import settings; print(settings.STAFF_OTP_REQUIRED)"],
                           cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    assert shown.stdout.strip().splitlines()[-1] == "True", shown.stderr
    turned_off = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                                cwd=ROOT, env={**environment, "STAFF_OTP_REQUIRED": "false"},
                                capture_output=True, text=True, timeout=120)
    assert turned_off.returncode != 0 and "prosperas.W002" in turned_off.stdout + turned_off.stderr


def test_a_staff_user_signs_in_with_the_code_from_their_authenticator(
        live_server, transactional_db, staff, otp_required, page, screenshot):
    _, device = staff
    page.goto(live_server.url + reverse("admin:index"))
    page.fill("input[name=username]", "ana.staff")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=otp_token]", current_token(device))
    page.click("input[type=submit]")

    expect(page.locator("#site-name")).to_contain_text("Prosperas")
    expect(page.locator("#content")).to_contain_text("Marketplace administration")
    screenshot()
