"""The borrower's side of an `offerUrl` (apps.origin_api.selection): follow it, give what the
lender still needs when the origin did not send it, wait a moment while the application reaches
the lender, go to the lender. Consumer-facing pages, in the site's languages, reusing the hosted
flow's words, fields (apps.leads.forms) and field template.

Every page here is safe to reload, post twice or open again after the hand-off: each reads the
journey's state and shows the page that fits it; a link that is not ours gets an honest 404."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.leads.forms import JourneyDataForm
from apps.leads.models import LeadStatus
from apps.origin_api.selection import (
    Followed,
    OfferLink,
    OfferLinkInvalid,
    offer_details_submit,
    offer_fields_missing,
    offer_follow,
    offer_handoff_url,
    offer_link_read,
    offer_submission_retry,
)
from prosperas.consumer_limits import posts_rate_limited

# The hand-off page's "just sent" mark: after the details form's POST the browser lands on a page
# of ours, which moves on by itself. A 302 to the lender's site at the end of the form's redirect
# chain would be blocked by the policy's form-action 'self' (the hosted flow does the same).
SENT_PARAM = "sent"


class SeeOther(HttpResponseRedirect):
    """303: after a POST the browser follows with a GET, so a reload never re-posts."""

    status_code = 303


def _context(request: HttpRequest, link: OfferLink | None, **extra) -> dict:
    return {"lead": link.lead if link else None, "origin": link.origin_lead.origin if link else None,
            "lender": link.offer.decision.lender.name if link else "", "offer": link.offer if link else None,
            "token": request.resolver_match.kwargs.get("token", ""), **extra}


def _page(request: HttpRequest, link: OfferLink | None, state: str, status: int = 200, **extra) -> HttpResponse:
    return render(request, "origin_api/offer.html", _context(request, link, state=state, **extra), status=status)


@never_cache
@require_GET
def follow(request: HttpRequest, token: str) -> HttpResponse:
    """Following an offerUrl: the choice and the submission happen once (a reload changes nothing)."""
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    followed = offer_follow(link)
    if followed == Followed.DETAILS:
        return redirect("origin_offers:details", token=token)
    if followed == Followed.UNAVAILABLE:
        return _page(request, link, "unavailable", status=409)
    return redirect("origin_offers:handoff", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
@posts_rate_limited("post")
def details(request: HttpRequest, token: str) -> HttpResponse:
    """The short page asking only for what the chosen lender needs and the lead lacks. Once the
    application is sent (this page posted, a double tap, another tab) it leads to the hand-off."""
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    missing = offer_fields_missing(link)
    sent_page = reverse("origin_offers:handoff", args=[token]) + "?" + SENT_PARAM
    if not missing:
        # Nothing to ask: sent already (a second submit, an old tab), another offer chosen, or
        # nothing lacking. Following the link again sorts it out; after a POST, by way of our
        # hand-off page (form-action, above).
        return SeeOther(sent_page) if request.method == "POST" else redirect("origin_offers:follow", token=token)
    form = JourneyDataForm(request.POST if request.method == "POST" else None, asked=missing)
    if request.method == "POST" and form.is_valid():
        offer_details_submit(link, form.journey_values())  # False: a repeat, which changes nothing
        return SeeOther(sent_page)
    return render(request, "origin_api/offer_details.html", _context(request, link, form=form))


@never_cache
@require_GET
def handoff(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    if SENT_PARAM in request.GET:
        return _page(request, link, "waiting", refresh_url=reverse("origin_offers:handoff", args=[token]))
    url = offer_handoff_url(link)
    if url and url.startswith(("https://", "http://")):
        return HttpResponseRedirect(url)
    link.lead.refresh_from_db()
    if link.lead.status == LeadStatus.SUBMISSION_FAILED:
        return _page(request, link, "failed")
    if link.lead.status == LeadStatus.SUBMITTING:
        return _page(request, link, "waiting")
    if link.lead.status == LeadStatus.OFFERED and link.lead.chosen_offer_id == link.offer.pk:
        return redirect("origin_offers:details", token=token)  # chosen, still waiting for its details
    return _page(request, link, "unavailable", status=409)


@require_POST
@posts_rate_limited("post", back_to="origin_offers:handoff")
def retry(request: HttpRequest, token: str) -> HttpResponse:
    """"Try again" on the failed page: the application goes to the lender again (a double
    submit sends it once: the lead is no longer failed the second time)."""
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    offer_submission_retry(link)
    return redirect("origin_offers:handoff", token=token)
