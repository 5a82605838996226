"""Getting into the portal: the invitation (password, then the second factor), sign-in with the
code, sign-out, and the one-time link that hands a secret over."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, login as otp_login, match_token

from apps.lenders.credentials import handover_open
from apps.partners import selectors, services
from apps.partners.forms import CodeForm, LoginForm, SetPasswordForm
from apps.partners.views import in_english

ENROL_SESSION_KEY = "partners_enrol_user"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@in_english
def login_view(request):
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = authenticate(request, username=data["email"].lower(), password=data["password"])
        device = match_token(user, data["code"]) if user is not None and not user.is_staff else None
        if device is not None and selectors.partner_lenders(user).exists():
            login(request, user)
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error(None, "That email, password and code do not match an account of the portal.")
    return render(request, "partners/login.html", {"form": form, "next": request.GET.get("next", "")})


def _next_url(request) -> str:
    target = request.GET.get("next", "")
    return target if target.startswith("/partners/") and not target.startswith("//") else reverse("partners:home")


@require_POST
def logout_view(request):
    logout(request)
    return redirect("partners:login")


@never_cache
@in_english
def invitation_view(request, token: str):
    try:
        invitation = services.invitation_open(token)
    except services.InvitationInvalid:
        return _no_store(render(request, "partners/link_dead.html", {"what": "invitation"}, status=410))
    form = SetPasswordForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(token=token, password=form.cleaned_data["password"])
        except services.InvitationInvalid:
            return _no_store(render(request, "partners/link_dead.html", {"what": "invitation"}, status=410))
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[ENROL_SESSION_KEY] = user.pk
        return redirect("partners:enrol")
    return _no_store(render(request, "partners/invitation.html", {"form": form, "invitation": invitation}))


@never_cache
@in_english
def enrol_view(request):
    """The second factor, right after the invitation (only then: a stolen password alone cannot
    enrol a device). A user who already has a confirmed device signs in instead."""
    user = request.user
    if not user.is_authenticated or request.session.get(ENROL_SESSION_KEY) != user.pk:
        return redirect("partners:login")
    if any(devices_for_user(user, confirmed=True)):
        request.session.pop(ENROL_SESSION_KEY, None)
        return redirect("partners:login")
    device = services.totp_device_for_enrolment(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.totp_enrol_confirm(device=device, code=form.cleaned_data["code"]):
            otp_login(request, device)
            request.session.pop(ENROL_SESSION_KEY, None)
            return redirect("partners:home")
        form.add_error("code", "That code does not match: check the time on your phone and try the next one.")
    key = base64.b32encode(device.bin_key).decode()
    return _no_store(render(request, "partners/enrol.html", {
        "form": form, "qr": _qr_data_uri(device.config_url), "key": key}))


def _qr_data_uri(text: str) -> str:
    """The otpauth URL as an SVG QR code in a data: URI (the CSP allows data: images only)."""
    buffer = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@never_cache
@in_english
def handover_view(request, token: str):
    """GET asks before showing (link previews and mail scanners open links: they must not burn
    it); POST claims the link once and shows the secret."""
    if request.method != "POST":
        return _no_store(render(request, "partners/handover.html", {"revealed": None}))
    issued = handover_open(token=token)
    if issued is None:
        return _no_store(render(request, "partners/link_dead.html", {"what": "link"}, status=410))
    return _no_store(render(request, "partners/handover.html", {"revealed": issued}))
