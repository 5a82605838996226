"""The hosted consumer flow: catalog → identity → decision → offer → details → hand-off.

Views only validate input, call one service of apps.leads and pick the page. The lead's status
decides which page is valid (apps.leads.selectors.journey_step): every journey page that does
not fit the status redirects to the one that does, so a reload, the back button or an old tab
always lands somewhere valid.

Journey URLs carry the lead's unguessable public token, never personal data, and only the
browser session that started a journey may open its pages.
"""

from __future__ import annotations

import logging
from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.flow.forms import DetailsForm, IdentityForm, OfferChoiceForm
from apps.leads.models import Lead, LeadStatus
from apps.leads.selectors import (
    LENDER_REPORTED_STATUSES,
    JourneyStep,
    journey_get,
    journey_has_ended,
    journey_is_waiting,
    journey_offers,
    journey_step,
)
from apps.leads.services import (
    JourneyError,
    journey_details_submit,
    journey_handoff,
    journey_identity_submit,
    journey_listing_change,
    journey_offer_choose,
    journey_retry,
    journey_start,
)
from apps.listings.selectors import catalog_entry, catalog_for_origin
from apps.origins.models import Origin
from apps.origins.selectors import origin_get_active, origin_list_active

logger = logging.getLogger(__name__)

# Session keys. Values are public tokens only: no personal data lives in the session.
SESSION_CURRENT = "flow_current"  # origin code -> token of the journey a new choice continues
SESSION_OWNED = "flow_owned"  # every token this browser started, newest first, for old tabs
OWNED_TOKENS_KEPT = 20


class SeeOther(HttpResponseRedirect):
    """303: after a POST the browser follows with a GET, so a reload never re-posts."""

    status_code = 303


def step_url(lead: Lead, step: str | None = None) -> str:
    return reverse(f"flow:{step or journey_step(lead)}", args=[lead.public_token])


# --- Session bookkeeping -------------------------------------------------------------------------


def _owned_tokens(request: HttpRequest) -> list[str]:
    return request.session.get(SESSION_OWNED, [])


def _session_remember(request: HttpRequest, lead: Lead) -> None:
    current = dict(request.session.get(SESSION_CURRENT, {}))
    current[lead.origin.code] = lead.public_token
    request.session[SESSION_CURRENT] = current
    owned = [lead.public_token, *(t for t in _owned_tokens(request) if t != lead.public_token)]
    request.session[SESSION_OWNED] = owned[:OWNED_TOKENS_KEPT]


def _session_journey(request: HttpRequest, origin: Origin) -> Lead | None:
    """The journey this browser would continue at this origin, if any."""
    token = request.session.get(SESSION_CURRENT, {}).get(origin.code)
    if not token:
        return None
    lead = journey_get(public_token=token)
    if lead is None or lead.origin_id != origin.pk:
        return None
    return lead


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "flow/not_found.html", status=404)


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
            lead = journey_get(public_token=token) if token in _owned_tokens(request) else None
            if lead is None:
                return journey_expired(request, token)
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


# --- Entry pages ---------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"origins": origin_list_active()})


@require_GET
def catalog(request: HttpRequest, origin_code: str) -> HttpResponse:
    origin = origin_get_active(code=origin_code)
    if origin is None:
        return _not_found(request)
    in_progress = _session_journey(request, origin)
    if in_progress is not None and (in_progress.status == LeadStatus.NEW or journey_has_ended(in_progress)):
        in_progress = None  # nothing to resume: a choice here starts (or re-points) a journey
    context = {"origin": origin, "entries": catalog_for_origin(origin=origin), "in_progress": in_progress}
    return render(request, "flow/catalog.html", context)


@require_POST
def start(request: HttpRequest, origin_code: str) -> HttpResponse:
    """Choose a listing: re-point an unfinished journey, resume one further along, or start one."""
    origin = origin_get_active(code=origin_code)
    if origin is None:
        return _not_found(request)
    entry = catalog_entry(origin=origin, listing_id=request.POST.get("listing_id", ""))
    if entry is None:
        messages.info(request, _("Esa oferta ya no está disponible. Elige otra de la lista."))
        return SeeOther(reverse("flow:catalog", args=[origin.code]))
    lead = _session_journey(request, origin)
    if lead is not None and lead.status == LeadStatus.NEW:
        journey_listing_change(lead=lead, listing=entry.listing, campaign=entry.campaign)
    elif lead is None or journey_has_ended(lead):
        lead = journey_start(origin=origin, listing=entry.listing, campaign=entry.campaign)
        _session_remember(request, lead)
    return SeeOther(step_url(lead))


# --- Journey pages -------------------------------------------------------------------------------


@journey_page()
def resume(request: HttpRequest, lead: Lead) -> HttpResponse:
    return HttpResponseRedirect(step_url(lead))


@journey_page(methods=("GET",))
def state(request: HttpRequest, lead: Lead) -> HttpResponse:
    """What the waiting pages poll: the status only, nothing personal."""
    return JsonResponse({"state": lead.status})


def _journey_context(lead: Lead, **extra) -> dict:
    return {"lead": lead, "origin": lead.origin, "waiting": journey_is_waiting(lead), **extra}


@journey_page(JourneyStep.IDENTITY, methods=("GET", "POST"))
def identity(request: HttpRequest, lead: Lead) -> HttpResponse:
    form = IdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # A second submit finds the journey moved on and changes nothing (see journey_page).
        journey_identity_submit(lead=lead, identity=form.identity())
        return SeeOther(step_url(lead, JourneyStep.DECISION))
    return render(request, "flow/identity.html", _journey_context(lead, form=form))


def _render_decision(request: HttpRequest, lead: Lead, form: OfferChoiceForm | None = None) -> HttpResponse:
    offers = journey_offers(lead=lead) if lead.status == LeadStatus.OFFERED else []
    if form is None and offers:
        form = OfferChoiceForm(offers=offers, initial={"offer": lead.chosen_offer_id})
    return render(request, "flow/decision.html", _journey_context(lead, offers=offers, form=form))


@journey_page(JourneyStep.DECISION, JourneyStep.DETAILS)
def decision(request: HttpRequest, lead: Lead) -> HttpResponse:
    return _render_decision(request, lead)


@journey_page(JourneyStep.DECISION, JourneyStep.DETAILS, methods=("POST",))
def offer_choose(request: HttpRequest, lead: Lead) -> HttpResponse:
    if lead.status != LeadStatus.OFFERED:
        return SeeOther(step_url(lead))
    form = OfferChoiceForm(request.POST, offers=journey_offers(lead=lead))
    if form.is_valid():
        try:
            journey_offer_choose(lead=lead, offer_id=form.cleaned_data["offer"])
        except JourneyError:
            form.add_error("offer", _("Esa oferta ya no está disponible; elige otra."))
        else:
            return SeeOther(step_url(lead, JourneyStep.DETAILS))
    return _render_decision(request, lead, form)


@journey_page(methods=("POST",))
def retry(request: HttpRequest, lead: Lead) -> HttpResponse:
    """"Try again" after a technical failure: the same tracking ID goes to the lender again."""
    journey_retry(lead=lead)
    return SeeOther(step_url(lead))


@journey_page(JourneyStep.DETAILS, methods=("GET", "POST"))
def details(request: HttpRequest, lead: Lead) -> HttpResponse:
    form = DetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            journey_details_submit(lead=lead, email=form.cleaned_data["email"], phone=form.cleaned_data["phone"])
        except JourneyError:
            return SeeOther(step_url(lead))
        return SeeOther(step_url(lead, JourneyStep.HANDOFF))
    return render(request, "flow/details.html", _journey_context(lead, form=form, offer=lead.chosen_offer))


@journey_page(JourneyStep.HANDOFF)
def handoff(request: HttpRequest, lead: Lead) -> HttpResponse:
    """Wait for the submission, then send the consumer to the lender (DESIGN.md §6)."""
    if lead.status in (LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF):
        try:
            url = journey_handoff(lead=lead)
        except JourneyError:
            url = ""
        if urlsplit(url).scheme in ("https", "http"):
            return HttpResponseRedirect(url)
        # No usable lender address: a relative URL here would send the consumer back into our
        # own pages. Say so plainly; staff must fix the data.
        logger.error("Lead %s (tracking ID %s) has no usable lender redirect URL.", lead.pk, lead.tracking_id)
        return render(request, "flow/handoff.html", _journey_context(lead, handoff_broken=True))
    context = _journey_context(lead, reported_by_lender=lead.status in LENDER_REPORTED_STATUSES)
    return render(request, "flow/handoff.html", context)
