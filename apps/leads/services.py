"""Writes to a journey. Views, admin actions and tasks call these; nothing else changes a lead.

Every state change is a conditional update inside a transaction, so a double click, a reload or
a task delivered twice finds the work already done and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.leads.models import Decision, Lead, LeadEvent, LeadStatus, Offer, Submission
from apps.lenders.adapters.base import DecisionResult, SubmissionResult
from apps.origins.services import tracking_id_mint

# Where a journey may be picked up again after a technical failure: the same tracking ID goes
# to the lender again (it is idempotent by it).
RETRYABLE = {LeadStatus.DECISION_FAILED: LeadStatus.AWAITING_DECISION, LeadStatus.SUBMISSION_FAILED: LeadStatus.SUBMITTING}


class JourneyError(Exception):
    """The consumer asked for something the journey cannot do in its state."""


@dataclass(frozen=True)
class IdentityData:
    document_type: str
    document_number: str
    full_name: str
    monthly_income: int


def _event(lead: Lead, kind: str, message: str = "") -> None:
    LeadEvent.objects.create(lead=lead, kind=kind, status=lead.status, message=message[:512])


def _move(lead: Lead, *, from_statuses: set[str], to: str, **fields) -> bool:
    """Conditional UPDATE: true when this call moved the lead, false when another got there first."""
    now = timezone.now()
    updated = Lead.objects.filter(pk=lead.pk, status__in=from_statuses).update(status=to, updated_at=now, **fields)
    if updated:
        lead.status = to
        lead.updated_at = now
        for name, value in fields.items():
            setattr(lead, name, value)
    return bool(updated)


def _enqueue_prequalify(lead: Lead) -> None:
    from apps.lenders import tasks

    transaction.on_commit(lambda: tasks.lender_prequalify.delay(lead_id=lead.pk, lender_id=lead.lender_id))


def _enqueue_submit(lead: Lead) -> None:
    from apps.lenders import tasks

    transaction.on_commit(lambda: tasks.lender_submit.delay(lead_id=lead.pk))


@transaction.atomic
def journey_start(*, origin, listing, campaign) -> Lead:
    """A new journey for a consumer who chose a listing: mints the tracking ID."""
    lead = Lead.objects.create(
        origin=origin,
        tracking_id=tracking_id_mint(origin=origin),
        public_token=secrets.token_urlsafe(32),
        listing=listing,
        product=listing.product,
        lender=campaign.lender,
        campaign=campaign,
        currency=listing.product.currency,
    )
    _event(lead, LeadEvent.Kind.STARTED, f"listing {listing.listing_id}")
    return lead


@transaction.atomic
def journey_listing_change(*, lead: Lead, listing, campaign) -> bool:
    """Before identity is given the consumer may go back and pick another listing."""
    return _move(
        lead, from_statuses={LeadStatus.NEW}, to=LeadStatus.NEW,
        listing=listing, product=listing.product, lender=campaign.lender, campaign=campaign,
    )


@transaction.atomic
def journey_identity_submit(*, lead: Lead, identity: IdentityData) -> bool:
    """Store identity and income and ask the lender for a decision. A repeat changes nothing."""
    moved = _move(
        lead, from_statuses={LeadStatus.NEW}, to=LeadStatus.AWAITING_DECISION, identity_at=timezone.now(),
    )
    if not moved:
        return False
    # Encrypted fields go through save(), not update(), so their values are encrypted.
    lead.document_type = identity.document_type
    lead.document_number = identity.document_number
    lead.full_name = identity.full_name
    lead.monthly_income = identity.monthly_income
    lead.save(update_fields=["document_type", "document_number", "full_name", "monthly_income"])
    _event(lead, LeadEvent.Kind.IDENTITY)
    _enqueue_prequalify(lead)
    return True


@transaction.atomic
def journey_retry(*, lead: Lead) -> bool:
    """The consumer's "try again" after a technical failure: same tracking ID, same request."""
    target = RETRYABLE.get(lead.status)
    if target is None or not _move(lead, from_statuses={lead.status}, to=target):
        return False
    _event(lead, LeadEvent.Kind.RETRY)
    if target == LeadStatus.AWAITING_DECISION:
        _enqueue_prequalify(lead)
    else:
        _enqueue_submit(lead)
    return True


@transaction.atomic
def decision_record(*, lead_id: int, lender_id: int, result: DecisionResult) -> Decision:
    """Store a lender's decision. If one is already stored for this lead and lender, it wins."""
    existing = Decision.objects.filter(lead_id=lead_id, lender_id=lender_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            decision = Decision.objects.create(
                lead_id=lead_id, lender_id=lender_id, outcome=str(result.decision),
                reason=result.reason[:512], lender_reference=result.lender_reference[:128],
            )
    except IntegrityError:
        return Decision.objects.get(lead_id=lead_id, lender_id=lender_id)
    Offer.objects.bulk_create(
        Offer(
            decision=decision, lender_offer_id=offer.lender_offer_id, amount=offer.amount,
            term_months=offer.term_months, monthly_payment=offer.monthly_payment,
            annual_rate=offer.annual_rate, currency=offer.currency, url=offer.url,
        )
        for offer in result.offers
    )
    target = {
        Decision.Outcome.APPROVED: LeadStatus.OFFERED if result.offers else LeadStatus.NOT_ELIGIBLE,
        Decision.Outcome.REJECTED: LeadStatus.NOT_ELIGIBLE,
        Decision.Outcome.PENDING: LeadStatus.DECISION_PENDING,
    }[decision.outcome]
    lead = Lead.objects.get(pk=lead_id)
    waiting = {LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.DECISION_FAILED}
    if _move(lead, from_statuses=waiting, to=target, decided_at=timezone.now(),
             lender_reference=result.lender_reference[:128] or lead.lender_reference):
        _event(lead, LeadEvent.Kind.DECISION, f"{decision.outcome} {decision.reason}".strip())
    return decision


@transaction.atomic
def decision_fail(*, lead_id: int, message: str) -> bool:
    lead = Lead.objects.get(pk=lead_id)
    moved = _move(lead, from_statuses={LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING}, to=LeadStatus.DECISION_FAILED)
    if moved:
        _event(lead, LeadEvent.Kind.DECISION_FAILED, message)
    return moved


@transaction.atomic
def journey_offer_choose(*, lead: Lead, offer_id: int) -> bool:
    """Choose one of the lead's offers. Choosing again before submitting replaces the choice."""
    offer = Offer.objects.filter(pk=offer_id, decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED).first()
    if offer is None:
        raise JourneyError("That offer is not one of this journey's offers.")
    moved = _move(lead, from_statuses={LeadStatus.OFFERED}, to=LeadStatus.OFFERED, chosen_offer=offer)
    if moved:
        _event(lead, LeadEvent.Kind.OFFER_CHOSEN, offer.lender_offer_id)
    return moved


@transaction.atomic
def journey_details_submit(*, lead: Lead, email: str, phone: str) -> bool:
    """The last data the lender needs; then the application goes to the lender."""
    if lead.chosen_offer_id is None:
        raise JourneyError("Choose an offer first.")
    if not _move(lead, from_statuses={LeadStatus.OFFERED}, to=LeadStatus.SUBMITTING):
        return False
    lead.email = email
    lead.phone = phone
    lead.save(update_fields=["email", "phone"])
    # A lender with no submission call is handled by the same task: the chosen offer's URL
    # becomes the redirect there (apps/lenders/services.py), so there is one path to hand-off.
    _enqueue_submit(lead)
    return True


@transaction.atomic
def submission_record(*, lead_id: int, result: SubmissionResult) -> Submission:
    """Store the lender's answer to the submission. If one is already stored, it wins."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    existing = Submission.objects.filter(lead=lead).first()
    if existing is not None:
        return existing
    submission = Submission.objects.create(
        lead=lead, lender_id=lead.lender_id, status=result.status[:40],
        redirect_url=result.redirect_url, lender_reference=result.lender_reference[:128],
    )
    fields = {"redirect_url": result.redirect_url, "submitted_at": timezone.now()}
    if result.lender_reference:
        fields["lender_reference"] = result.lender_reference[:128]
    if _move(lead, from_statuses={LeadStatus.SUBMITTING, LeadStatus.SUBMISSION_FAILED}, to=LeadStatus.SUBMITTED, **fields):
        _event(lead, LeadEvent.Kind.SUBMITTED, result.status)
    return submission


@transaction.atomic
def submission_fail(*, lead_id: int, message: str) -> bool:
    lead = Lead.objects.get(pk=lead_id)
    moved = _move(lead, from_statuses={LeadStatus.SUBMITTING}, to=LeadStatus.SUBMISSION_FAILED)
    if moved:
        _event(lead, LeadEvent.Kind.SUBMISSION_FAILED, message)
    return moved


def handoff_url_build(redirect_url: str, *, click_id: str, product_id: str, listing_id: str) -> str:
    """The lender's redirect URL plus click_id, product_id and listing_id (DESIGN.md §6).

    Parameters the URL already carries are left exactly as they are (we never re-encode the
    existing query); ours are appended percent-encoded, so the lender's query parser reads back
    the click_id byte for byte.
    """
    parts = urlsplit(redirect_url)
    present = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    additions = [
        f"{name}={quote(value, safe='')}"
        for name, value in (("click_id", click_id), ("product_id", product_id), ("listing_id", listing_id))
        if name not in present and value
    ]
    query = "&".join(part for part in [parts.query, *additions] if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@transaction.atomic
def journey_handoff(*, lead: Lead) -> str:
    """The URL to send the consumer to; marks the lead handed off the first time."""
    if lead.status not in (LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF) and not lead.handoff_url:
        raise JourneyError("The application has not been submitted yet.")
    if not (lead.handoff_url or lead.redirect_url):
        raise JourneyError("The lender gave no address to send the consumer to.")
    url = lead.handoff_url or handoff_url_build(
        lead.redirect_url, click_id=lead.tracking_id, product_id=lead.product.product_id,
        listing_id=lead.listing.listing_id,
    )
    if _move(lead, from_statuses={LeadStatus.SUBMITTED}, to=LeadStatus.HANDED_OFF, handoff_url=url, handed_off_at=timezone.now()):
        _event(lead, LeadEvent.Kind.HANDED_OFF)
    return url


# Postback statuses in the order a credit moves through them; rejected and cancelled end it.
POSTBACK_RANK = {
    LeadStatus.PRE_APPROVED: 1,
    LeadStatus.APPROVED: 2,
    LeadStatus.DISBURSED: 3,
}
TERMINAL = {LeadStatus.REJECTED, LeadStatus.CANCELLED}
# The lender's own decision said no: a later approval contradicts it and goes to staff.
DECLINED_IN_FLOW = {LeadStatus.NOT_ELIGIBLE}


def postback_transition(*, current: str, incoming: str, newer: bool) -> str:
    """The transition table: 'applied', 'no_change' or 'contradicts' for a postback status.

    `newer` says whether the event occurred after the last one that moved the lead; events that
    arrive out of order never move a lead backwards.
    """
    if current == incoming:
        return "no_change"
    if current in TERMINAL:
        return "contradicts"
    if incoming in TERMINAL:
        if current == LeadStatus.DISBURSED:
            return "contradicts"
        return "applied" if newer else "contradicts"
    if current in DECLINED_IN_FLOW:
        return "contradicts"
    current_rank = POSTBACK_RANK.get(current, 0)
    return "applied" if POSTBACK_RANK[incoming] > current_rank else "no_change"


@transaction.atomic
def lead_postback_apply(*, lead_id: int, status: str, occurred_at, message: str = "") -> str:
    """Move a lead by a lender's postback, following the transition table. Returns the effect."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    newer = lead.lender_status_at is None or occurred_at >= lead.lender_status_at
    effect = postback_transition(current=lead.status, incoming=status, newer=newer)
    if effect == "applied":
        # The clock only moves forward, even when an older event moves the lead up the ladder.
        latest = occurred_at if newer else lead.lender_status_at
        _move(lead, from_statuses={lead.status}, to=status, lender_status_at=latest)
    elif effect == "contradicts":
        Lead.objects.filter(pk=lead.pk).update(needs_review=True)
    _event_postback(lead, status, effect, message)
    return effect


def _event_postback(lead: Lead, status: str, effect: str, message: str) -> None:
    text = f"{status} ({effect})" + (f": {message}" if message else "")
    LeadEvent.objects.create(lead=lead, kind=LeadEvent.Kind.POSTBACK, status=lead.status, message=text[:512])
