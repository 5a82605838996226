"""The result email's "continue" link: it reopens the journey in whatever browser opens it.

A journey's pages open only in the browser session that started it (apps/flow/journeys.py), and
the email is often read elsewhere (a mail app, a computer, outside a carrier's webview). The
link's token is one-time and expiring (apps/leads/resume_links.py). GET asks before going on,
since mail scanners and link previews open links and must not use them up; POST uses the link,
binds the journey to this browser's session and goes to the page the journey is on (the offers).
A link that cannot be used ends on the journey's private status page, which says why.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.flow.journeys import SeeOther, owned_tokens, rate_limited, session_remember, step_url
from apps.flow.views import STATUS_SENTENCES
from apps.leads.models import Lead
from apps.leads.resume_links import ResumeCheck, ResumeRefusal, resume_link_check, resume_link_use

# Why a link cannot be used, said on the status page it ends on.
REFUSALS = {
    ResumeRefusal.USED: gettext_lazy(
        "Este enlace ya se usó. Por tu seguridad, cada enlace del correo sirve una sola vez: continúa tu "
        "solicitud en el navegador donde lo abriste. Aquí puedes ver su estado."),
    ResumeRefusal.EXPIRED: gettext_lazy(
        "Este enlace venció: por tu seguridad, los enlaces del correo sirven por tiempo limitado. Aquí puedes "
        "ver el estado de tu solicitud."),
    ResumeRefusal.ENDED: gettext_lazy(
        "Tu solicitud ya terminó, así que no queda nada por continuar. Aquí puedes ver su estado."),
    ResumeRefusal.REVOKED: gettext_lazy(
        "Revocaste tu autorización, así que esta solicitud no puede continuar. Aquí puedes ver su estado."),
}


@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("post")
def resume_link(request: HttpRequest, token: str) -> HttpResponse:
    check = resume_link_check(token=token)
    if check.lead is None:
        return render(request, "flow/expired.html", {"origin": None}, status=404)
    lead = check.lead
    if lead.public_token in owned_tokens(request):
        # This browser has the journey already (the link opened where the journey ran, or used
        # here before): straight to its page, leaving the link unused.
        return HttpResponseRedirect(step_url(lead))
    language = _language(request, lead)
    with translation.override(language):
        if request.method == "POST" and check.usable:
            check = resume_link_use(token=token)  # the check again, under the link's lock
        if not check.usable:
            messages.info(request, str(REFUSALS[check.refusal]))  # now, in this language
            response = SeeOther(reverse("flow:status", args=[lead.public_token]))
        elif request.method == "POST":
            response = _bind(request, check.lead)
        else:
            response = _ask(request, token, check)
    _keep_language(request, response, language)
    return response


def _ask(request: HttpRequest, token: str, check: ResumeCheck) -> HttpResponse:
    context = {"lead": check.lead, "origin": check.lead.origin, "token": token, "expires_at": check.expires_at,
               "sentence": STATUS_SENTENCES.get(check.lead.status, "")}
    return render(request, "flow/resume_link.html", context)


def _bind(request: HttpRequest, lead: Lead) -> HttpResponse:
    """This browser now holds the journey, as the one that started it does; a new session key,
    since the session gains a journey."""
    request.session.cycle_key()
    session_remember(request, lead.origin, lead)
    return SeeOther(step_url(lead))


def _language(request: HttpRequest, lead: Lead) -> str:
    """The language the consumer chose in this browser, else the journey's (the email's)."""
    if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        return translation.get_language()
    return translation.get_supported_language_variant(lead.language or settings.LANGUAGE_CODE)


def _keep_language(request: HttpRequest, response: HttpResponse, language: str) -> None:
    """A browser with no language of its own keeps the journey's, so its next pages match."""
    if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
