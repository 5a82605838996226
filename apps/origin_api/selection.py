"""An offer's `offerUrl`, and what following it does: the borrower, on the origin's screen, taps
an offer; our page records the choice (`product_selected`), sends the application to the lender
with the data the origin sent, and hands the borrower to the lender with `click_id`,
`product_id` and `listing_id`, as the hosted flow does (the same apps.leads services).

The URL carries a signed token of our ids (the API lead and the offer), no personal data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.leads.models import Lead, LeadStatus, Offer
from apps.leads.services import (
    JourneyError,
    journey_details_submit,
    journey_handoff,
    journey_offer_choose,
    journey_retry,
)
from apps.origin_api.models import OriginLead

TOKEN_SALT = "apps.origin_api.selection.offer"
# Journey statuses in which the offer chosen is on its way to, or with, the lender.
PAST_CHOICE = {LeadStatus.SUBMITTING, LeadStatus.SUBMISSION_FAILED, LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF,
               LeadStatus.PRE_APPROVED, LeadStatus.APPROVED, LeadStatus.DISBURSED, LeadStatus.REJECTED,
               LeadStatus.CANCELLED}


class OfferLinkInvalid(Exception):
    pass


def offer_token(*, origin_lead_id: int, offer_id: int) -> str:
    signed = signing.Signer(salt=TOKEN_SALT).sign(f"{origin_lead_id}.{offer_id}")
    return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def offer_url(*, origin_lead_id: int, offer_id: int) -> str:
    token = offer_token(origin_lead_id=origin_lead_id, offer_id=offer_id)
    return settings.SITE_URL + reverse("origin_offers:follow", args=[token])


@dataclass(frozen=True)
class OfferLink:
    origin_lead: OriginLead
    lead: Lead
    offer: Offer


def offer_link_read(token: str) -> OfferLink:
    try:
        signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        origin_lead_id, offer_id = (int(part) for part in signing.Signer(salt=TOKEN_SALT).unsign(signed).split("."))
    except (ValueError, UnicodeDecodeError, signing.BadSignature):
        raise OfferLinkInvalid from None
    origin_lead = OriginLead.objects.select_related("lead__lender", "lead__product", "lead__listing").filter(
        pk=origin_lead_id).first()
    offer = Offer.objects.filter(pk=offer_id, decision__lead_id=origin_lead.lead_id).first() if origin_lead else None
    if offer is None:
        raise OfferLinkInvalid
    return OfferLink(origin_lead=origin_lead, lead=origin_lead.lead, offer=offer)


def offer_follow(link: OfferLink) -> bool:
    """Choose the offer and send the application, once: following the link again (a double tap,
    a reload) finds it chosen and does nothing more. False: another offer of this lead was
    already chosen and sent, so this one is no longer available."""
    lead = link.lead
    if lead.status in PAST_CHOICE:
        return lead.chosen_offer_id == link.offer.pk
    if lead.status != LeadStatus.OFFERED:
        return False
    try:
        journey_offer_choose(lead=lead, offer_id=link.offer.pk)
        # The origin sent the contact data with the lead; the lender needs nothing more from the
        # borrower (the API only asks lenders whose fields the origin sent: services.origin_catalog).
        journey_details_submit(lead=lead, email=lead.email, phone=lead.phone)
    except JourneyError:
        return False
    lead.refresh_from_db()
    return lead.chosen_offer_id == link.offer.pk


def offer_handoff_url(link: OfferLink) -> str | None:
    """The lender's address once the application is there (marking the lead handed off), else None."""
    lead = Lead.objects.select_related("lender", "product", "listing").get(pk=link.lead.pk)
    if lead.status not in (LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF) or lead.chosen_offer_id != link.offer.pk:
        return None
    try:
        return journey_handoff(lead=lead)
    except JourneyError:
        return None


def offer_submission_retry(link: OfferLink) -> bool:
    """The borrower's "try again" after the lender could not be reached: the same application,
    with the same tracking ID, sent again (the hosted flow's journey_retry)."""
    lead = Lead.objects.get(pk=link.lead.pk)
    if lead.status != LeadStatus.SUBMISSION_FAILED or lead.chosen_offer_id != link.offer.pk:
        return False
    return journey_retry(lead=lead)
