"""An offer's `offerUrl`, and what following it does: the borrower, on the origin's screen, taps
an offer; our page records the choice (`product_selected`), sends the application to the lender
with the data the origin sent, and hands the borrower to the lender with `click_id`,
`product_id` and `listing_id`, as the hosted flow does (the same apps.leads services).

The origin is asked only of lenders whose decision fields it sent (services.origin_catalog),
but a lender's submission may need more (its adapter's `submit_fields`, such as an address). Then
the application is not sent incomplete: following the link records the choice and shows a short
page asking only for what the lead lacks (offer_views.details); the answers are stored as the
hosted flow stores them and the application goes on from there.

The URL carries a signed token of our ids (the API lead and the offer), no personal data.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.leads.engine.requests import submission_fields_missing
from apps.leads.models import Lead, LeadStatus, Offer
from apps.leads.services import (
    JourneyError,
    journey_details_complete,
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


class Followed(enum.StrEnum):
    SENT = "sent"  # the application is on its way to (or with) the lender with this offer
    DETAILS = "details"  # the offer is chosen; the lender needs data the lead lacks
    UNAVAILABLE = "unavailable"  # another offer went to a lender, or the search ended without this one


def offer_follow(link: OfferLink) -> Followed:
    """Choose the offer and send the application, once: following the link again (a double tap,
    a reload) finds it chosen and does nothing more. When the lender needs data the origin did
    not send, the offer is chosen and the application waits for the details page."""
    lead = link.lead
    if lead.status in PAST_CHOICE:
        return Followed.SENT if lead.chosen_offer_id == link.offer.pk else Followed.UNAVAILABLE
    if lead.status != LeadStatus.OFFERED:
        return Followed.UNAVAILABLE
    try:
        if lead.chosen_offer_id != link.offer.pk:
            journey_offer_choose(lead=lead, offer_id=link.offer.pk)
        lead.refresh_from_db()
        if lead.status == LeadStatus.OFFERED and lead.chosen_offer_id == link.offer.pk:
            if lead.consent_revoked_at is not None:
                return Followed.UNAVAILABLE  # nothing more goes to a lender (apps/leads/revocation.py)
            if submission_fields_missing(lead):
                return Followed.DETAILS
            # The origin sent every field the lender declares (contact data included).
            journey_details_submit(lead=lead, email=lead.email, phone=lead.phone)
    except JourneyError:
        return Followed.UNAVAILABLE
    lead.refresh_from_db()
    if lead.chosen_offer_id != link.offer.pk:
        return Followed.UNAVAILABLE
    if lead.status in PAST_CHOICE:
        return Followed.SENT
    return Followed.DETAILS if lead.status == LeadStatus.OFFERED else Followed.UNAVAILABLE


def offer_fields_missing(link: OfferLink) -> tuple[str, ...] | None:
    """The fields the details page asks for; None when the page has nothing to do (the offer is
    not the choice waiting to be sent: sent already, another chosen, or the journey ended)."""
    lead = Lead.objects.select_related("lender").get(pk=link.lead.pk)
    if lead.status != LeadStatus.OFFERED or lead.chosen_offer_id != link.offer.pk or lead.consent_revoked_at:
        return None
    return submission_fields_missing(lead)


def offer_details_submit(link: OfferLink, values: dict[str, str | int]) -> bool:
    """Store the details page's answers and send the application, once (a double submit finds it
    sent and changes nothing: False)."""
    try:
        return journey_details_complete(lead=Lead.objects.get(pk=link.lead.pk), offer_id=link.offer.pk, values=values)
    except JourneyError:
        return False


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
