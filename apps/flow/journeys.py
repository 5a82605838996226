"""The hosted flow's request plumbing: the browser session's journeys, the decorators every
journey page wears (owner only, the page that fits the status, rate limits), and redirects."""

from __future__ import annotations

import json
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, get_supported_language_variant
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.flow.selectors import journey_current
from apps.leads.models import Lead
from apps.leads.selectors import journey_get, journey_step
from apps.leads.services import journey_language_set
from apps.origins.models import Origin
from apps.origins.services import DeepLinkPrefill
from prosperas.consumer_limits import posts_rate_limited
from prosperas.crypto import DecryptionError, decrypt, encrypt
from prosperas.logcontext import log_context_bind


# Session keys (database sessions, server-side). Journeys are named by public tokens; the one
# personal value kept is a verified deep link's prefill (SESSION_PREFILL below), encrypted.
SESSION_CURRENT = "flow_current"  # origin code -> token of the journey a new choice continues
SESSION_OWNED = "flow_owned"  # every token this browser started, newest first, for old tabs
OWNED_TOKENS_KEPT = 20
# origin code -> a verified deep link's prefill {"reference", "name", "phone"}, as a token of the
# platform's field encryption (prosperas.crypto). The name and phone are personal data: the session
# row (django_session) is signed, not encrypted, so they are kept there only encrypted, never in a
# URL, and used only to prefill the forms of the next journey at that origin.
SESSION_PREFILL = "flow_prefill"


class SeeOther(HttpResponseRedirect):
    """303: after a POST the browser follows with a GET, so a reload never re-posts."""

    status_code = 303


def step_url(lead: Lead, step: str | None = None) -> str:
    return reverse(f"flow:{step or journey_step(lead)}", args=[lead.public_token])


# --- Session bookkeeping -------------------------------------------------------------------------


def owned_tokens(request: HttpRequest) -> list[str]:
    return request.session.get(SESSION_OWNED, [])


def session_remember(request: HttpRequest, origin: Origin, lead: Lead) -> None:
    current = dict(request.session.get(SESSION_CURRENT, {}))
    current[origin.code] = lead.public_token
    request.session[SESSION_CURRENT] = current
    owned = [lead.public_token, *(t for t in owned_tokens(request) if t != lead.public_token)]
    request.session[SESSION_OWNED] = owned[:OWNED_TOKENS_KEPT]


def session_journey(request: HttpRequest, origin: Origin) -> Lead | None:
    """The journey this browser would continue at this origin, if any."""
    token = request.session.get(SESSION_CURRENT, {}).get(origin.code)
    if not token:
        return None
    return journey_current(public_token=token, origin=origin)


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "flow/not_found.html", status=404)


def request_language(request: HttpRequest) -> str:
    """The consumer's language as Lead.language keeps it: "es" or "en" (the base of LANGUAGES)."""
    return get_supported_language_variant(get_language() or settings.LANGUAGE_CODE).split("-")[0]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# The flow's POSTs are limited per address (prosperas/consumer_limits.py), as the origins' offer pages are.
rate_limited = posts_rate_limited


def prefill_keep(request: HttpRequest, origin: Origin, prefill: DeepLinkPrefill) -> None:
    stored = dict(request.session.get(SESSION_PREFILL, {}))
    values = {"reference": prefill.reference, "name": prefill.name, "phone": prefill.phone}
    stored[origin.code] = encrypt(json.dumps(values))
    request.session[SESSION_PREFILL] = stored


def prefill_for(request: HttpRequest, origin: Origin) -> dict:
    """The prefill kept for this origin, decrypted; nothing when none, or when the session holds
    one it cannot read (kept in clear before, or under a retired key)."""
    kept = request.session.get(SESSION_PREFILL, {}).get(origin.code)
    if not isinstance(kept, str):
        return {}
    try:
        return json.loads(decrypt(kept))
    except DecryptionError:
        return {}


def journey_page(*steps: str, methods: tuple[str, ...] = ("GET",)):
    """Load the journey named by the URL's token, for its owner only, on a page that fits it.

    Someone else's (or a forgotten) token gets the "link expired" page with status 404. A
    journey whose status belongs on another page is redirected there (303 after a POST).
    """

    def decorate(view):
        @wraps(view)
        @never_cache
        @require_http_methods(list(methods))
        def wrapper(request: HttpRequest, token: str) -> HttpResponse:
            lead = journey_get(public_token=token) if token in owned_tokens(request) else None
            if lead is None:
                return journey_expired(request, token)
            log_context_bind(lead_id=lead.pk, tracking_id=lead.tracking_id)  # on this request's lines and its tasks'
            journey_language_set(lead=lead, language=request_language(request))  # writes only on a change
            if steps and lead.consent_revoked_at is not None:
                # The consumer revoked their consent: no step of the journey goes on; its receipt says so.
                redirect_class = SeeOther if request.method == "POST" else HttpResponseRedirect
                return redirect_class(reverse("flow:consent", args=[lead.public_token]))
            if steps and journey_step(lead) not in steps:
                redirect_class = SeeOther if request.method == "POST" else HttpResponseRedirect
                return redirect_class(step_url(lead))
            return view(request, lead)

        return wrapper

    return decorate


def journey_expired(request: HttpRequest, token: str) -> HttpResponse:
    """A friendly dead end with a way back to the origin's catalog (when we know the origin)."""
    lead = Lead.objects.select_related("origin").filter(public_token=token).first()
    origin = lead.origin if lead is not None and lead.origin.is_active else None
    return render(request, "flow/expired.html", {"origin": origin}, status=404)
