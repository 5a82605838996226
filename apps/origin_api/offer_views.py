"""The borrower's side of an `offerUrl` (apps.origin_api.selection): follow it, wait a moment
while the application reaches the lender, go to the lender. Consumer-facing pages, in the
site's languages, reusing the hosted flow's words."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.leads.models import LeadStatus
from apps.origin_api.selection import (
    OfferLinkInvalid,
    offer_follow,
    offer_handoff_url,
    offer_link_read,
    offer_submission_retry,
)


def _page(request: HttpRequest, link, state: str, status: int = 200) -> HttpResponse:
    context = {"lead": link.lead if link else None, "origin": link.origin_lead.origin if link else None,
               "state": state, "lender": link.offer.decision.lender.name if link else "",
               "token": request.resolver_match.kwargs.get("token", "")}
    return render(request, "origin_api/offer.html", context, status=status)


@never_cache
@require_GET
def follow(request: HttpRequest, token: str) -> HttpResponse:
    """Following an offerUrl: the choice and the submission happen once (a reload changes nothing)."""
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    if not offer_follow(link):
        return _page(request, link, "unavailable", status=409)
    return redirect("origin_offers:handoff", token=token)


@never_cache
@require_GET
def handoff(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    url = offer_handoff_url(link)
    if url and url.startswith(("https://", "http://")):
        return HttpResponseRedirect(url)
    link.lead.refresh_from_db()
    if link.lead.status == LeadStatus.SUBMISSION_FAILED:
        return _page(request, link, "failed")
    if link.lead.status == LeadStatus.SUBMITTING:
        return _page(request, link, "waiting")
    return _page(request, link, "unavailable", status=409)


@require_POST
def retry(request: HttpRequest, token: str) -> HttpResponse:
    """"Try again" on the failed page: the application goes to the lender again (a double
    submit sends it once: the lead is no longer failed the second time)."""
    try:
        link = offer_link_read(token)
    except OfferLinkInvalid:
        return _page(request, None, "invalid", status=404)
    offer_submission_retry(link)
    return redirect("origin_offers:handoff", token=token)
