"""Writes to a journey. Views, admin actions and tasks call these; nothing else changes a lead.

Every state change is a conditional update inside a transaction, so a double click, a reload or
a task delivered twice finds the work already done and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from django.db import transaction
from django.utils import timezone

from apps.campaigns.services import lead_delivery_record
from apps.leads.engine.compare import lender_decisions_request
from apps.leads.engine.requests import LEAD_COLUMNS, lead_extra_data_set
from apps.leads.enqueue import prequalify_enqueue, submit_enqueue
from apps.leads.models import CONSENT_RECEIPT, Decision, IncomeBand, Lead, LeadEvent, LeadStatus, Offer
from apps.leads.moves import lead_event_add, lead_move
from apps.leads.signals import lead_changed_on_commit
from apps.leads.selectors import compare_status, decision_request_for_offer
from apps.origins.services import tracking_id_mint

# Where a journey may be picked up again after a technical failure: the same tracking ID goes
# to the lender again (it is idempotent by it).
RETRYABLE = {LeadStatus.DECISION_FAILED: LeadStatus.AWAITING_DECISION, LeadStatus.SUBMISSION_FAILED: LeadStatus.SUBMITTING}


class JourneyError(Exception):
    """The consumer asked for something the journey cannot do in its state."""


class ConsentRevoked(JourneyError):
    """The consumer revoked their consent: the journey shares nothing more (apps/leads/revocation.py)."""


def _consent_in_force(lead: Lead) -> None:
    """Refuse a step that would share the consumer's data once they revoked their consent. Read
    from the database, not the instance: the revocation may come from another browser. The lender
    engine checks again under the lead's lock before any call (engine/attempt.py)."""
    if lead.consent_revoked_at or Lead.objects.filter(pk=lead.pk, consent_revoked_at__isnull=False).exists():
        raise ConsentRevoked("The consumer revoked their consent for this journey.")


@dataclass(frozen=True)
class IdentityData:
    document_type: str
    document_number: str
    full_name: str
    monthly_income: int
    # Asked only when the chosen lender's adapter declares them (prequalify_fields); empty otherwise.
    birth_date: str = ""  # ISO YYYY-MM-DD
    region: str = ""  # ISO 3166-2:CO, e.g. CO-DC
    requested_amount: int | None = None
    email: str = ""  # when the lender needs it to decide (an async lead API does)
    # An origin that renders its own screens sends the whole lead at once (apps.origin_api).
    phone: str = ""
    requested_term_months: int | None = None


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
    lead_event_add(lead, LeadEvent.Kind.STARTED, f"listing {listing.listing_id}")
    return lead


@transaction.atomic
def journey_listing_change(*, lead: Lead, listing, campaign) -> bool:
    """Before identity is given the consumer may go back and pick another listing."""
    return lead_move(
        lead, from_statuses={LeadStatus.NEW}, to=LeadStatus.NEW,
        listing=listing, product=listing.product, lender=campaign.lender, campaign=campaign,
    )


@dataclass(frozen=True)
class ConsentsGiven:
    """The consents accepted with the identity step, as consent_record stores them."""

    kinds: tuple[str, ...]
    text_version: str
    ip_address: str | None
    # When the consumer accepted, if not now: an origin's screen attests to an earlier moment.
    accepted_at: datetime | None = None
    # The published legal.ConsentText the page showed, and its language (the hosted flow).
    text_id: int | None = None
    language: str = ""


def _consents_store(lead: Lead, consents: ConsentsGiven | None) -> None:
    if consents is not None:
        consent_record(lead=lead, kinds=list(consents.kinds), text_version=consents.text_version,
                       ip_address=consents.ip_address, accepted_at=consents.accepted_at,
                       text_id=consents.text_id, language=consents.language)


def _identity_values(identity: IdentityData) -> dict:
    """The Lead fields an identity step stores: every IdentityData field that is a Lead field
    (birth date, region... when the flow asks), and the income's band, which queries read."""
    lead_fields = {field.name for field in Lead._meta.concrete_fields}
    values = {field.name: getattr(identity, field.name) for field in dataclass_fields(identity)
              if field.name in lead_fields}
    values["monthly_income_band"] = IncomeBand.of(identity.monthly_income)
    return values


@transaction.atomic
def journey_identity_submit(*, lead: Lead, identity: IdentityData, consents: ConsentsGiven | None = None) -> bool:
    """Store identity and income (with the consents given, when passed) and route the lead to
    the lender for a decision. A repeat changes nothing.

    Routing is delivery: the campaign's conditions, caps and budget are checked and the lead is
    charged in this same transaction (apps.campaigns.services.lead_delivery_record). If the
    listing can no longer take it, DeliveryRefused propagates and the whole step rolls back: the
    journey stays where it was, nothing is stored, and the flow offers the next eligible listing.
    """
    # Stored in the status update itself: update() prepares values as save() does, so the
    # encrypted fields are stored encrypted.
    values = _identity_values(identity)
    moved = lead_move(
        lead, from_statuses={LeadStatus.NEW}, to=LeadStatus.AWAITING_DECISION, identity_at=timezone.now(), **values,
    )
    if not moved:
        return False
    _consents_store(lead, consents)
    lead_delivery_record(lead=lead)
    lead_event_add(lead, LeadEvent.Kind.IDENTITY)
    prequalify_enqueue(lead_id=lead.pk, lender_id=lead.lender_id)
    return True


@transaction.atomic
def journey_retry(*, lead: Lead) -> bool:
    """The consumer's "try again" after a technical failure: same tracking ID, same request."""
    _consent_in_force(lead)
    target = RETRYABLE.get(lead.status)
    if target is None or not lead_move(lead, from_statuses={lead.status}, to=target):
        return False
    lead_event_add(lead, LeadEvent.Kind.RETRY)
    if target == LeadStatus.AWAITING_DECISION:
        prequalify_enqueue(lead_id=lead.pk, lender_id=lead.lender_id)
    else:
        submit_enqueue(lead_id=lead.pk)
    return True


def journey_compare_request(*, lead: Lead, entries) -> list[int]:
    """Compare mode: ask every lender of `entries` for a decision at once; returns their ids.

    `entries` are catalog entries (apps.campaigns.catalog.catalog_for_origin): one ask per
    lender, each a task on the lender_calls queue enqueued on commit, so the calls run side by
    side and each decision is stored as it arrives. Call it once identity and income are stored
    (after journey_identity_submit, or on a NEW lead that already has them); calling it again on
    a failed journey asks again the lenders whose ask failed. Lenders whose circuit is open are
    skipped; with no lender to ask, the journey is decision_failed ("try again later").
    Lead.lender stays empty until an offer is chosen (journey_offer_choose sets it).
    """
    if not lead.compare_mode:
        raise JourneyError("This journey is not in compare mode.")
    if lead.consent_revoked_at:
        raise ConsentRevoked("The consumer revoked their consent for this journey.")
    if not (lead.document_number and lead.monthly_income is not None):
        raise JourneyError("Identity and income come first.")
    # No savepoint inside the caller's transaction (the flow's, or journey_compare_identity_submit's):
    # nothing here is worth keeping if a statement fails, and every lender call of the fan-out
    # waits for this transaction, so two round trips fewer matter.
    with transaction.atomic(savepoint=False):
        return _compare_ask(lead, entries)


def _compare_ask(lead: Lead, entries) -> list[int]:
    previous = lead.status
    # The move is refused once the consent is revoked (from another browser, say): every lender
    # call of the fan-out waits for this transaction, so the check costs no read of its own.
    if not lead_move(
        lead, from_statuses={LeadStatus.NEW, LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_FAILED},
        to=LeadStatus.AWAITING_DECISION, unless_revoked=True, identity_at=lead.identity_at or timezone.now(),
    ):
        _consent_in_force(lead)
        return []
    # A journey moved out of NEW just now (under its row lock) was never asked nor delivered.
    first = previous == LeadStatus.NEW
    asked = lender_decisions_request(lead=lead, entries=entries, first=first)
    # Asking again after a failure starts a fresh round of retries, as the consumer's "try again" does.
    kind = LeadEvent.Kind.RETRY if previous == LeadStatus.DECISION_FAILED else LeadEvent.Kind.IDENTITY
    lead_event_add(lead, kind, f"compare: asked {len(asked)} lenders")
    if first and asked:
        return asked  # a first ask: nobody can have answered, the calls go out when this commits
    target = compare_status(lead_id=lead.pk)
    if target != lead.status:
        lead_move(lead, from_statuses={LeadStatus.AWAITING_DECISION}, to=target)
    return asked


@transaction.atomic
def journey_offer_choose(*, lead: Lead, offer_id: int) -> bool:
    """Choose one of the lead's offers. Choosing again before submitting replaces the choice."""
    _consent_in_force(lead)
    offer = Offer.objects.filter(pk=offer_id, decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED).first()
    if offer is None:
        raise JourneyError("That offer is not one of this journey's offers.")
    fields = {"chosen_offer": offer}
    if lead.compare_mode:
        # The chosen offer decides the journey's lender, and the catalog entry it was asked for.
        ask = decision_request_for_offer(offer)
        if ask is None:
            raise JourneyError("That offer is not one of this journey's offers.")
        fields.update(lender_id=ask.lender_id, campaign=ask.campaign, product=ask.product, listing=ask.listing,
                      lender_reference=offer.decision.lender_reference)
    moved = lead_move(lead, from_statuses={LeadStatus.OFFERED}, to=LeadStatus.OFFERED, **fields)
    if moved:
        lead_event_add(lead, LeadEvent.Kind.OFFER_CHOSEN, offer.lender_offer_id)
    return moved


@transaction.atomic
def journey_details_submit(*, lead: Lead, email: str, phone: str) -> bool:
    """The last data the lender needs; then the application goes to the lender."""
    _consent_in_force(lead)
    if lead.chosen_offer_id is None:
        raise JourneyError("Choose an offer first.")
    # The contact data goes in the status update itself (stored encrypted, as by save()).
    if not lead_move(lead, from_statuses={LeadStatus.OFFERED}, to=LeadStatus.SUBMITTING, email=email, phone=phone):
        return False
    # The consent receipt, if the identity step had no address to send it to (once: a unique row).
    _notify_status_change(lead, CONSENT_RECEIPT)
    # A lender with no submission call is handled by the same task: the chosen offer's URL
    # becomes the redirect there (apps/leads/engine/attempt.py), so there is one path to hand-off.
    submit_enqueue(lead_id=lead.pk)
    return True


@transaction.atomic
def journey_details_complete(*, lead: Lead, offer_id: int, values: dict[str, str | int]) -> bool:
    """The journey data the chosen lender still needs (a page asked the consumer for what the
    journey lacks), stored as the identity step stores it, then the application goes to the
    lender as with journey_details_submit. Only while offer `offer_id` is the choice and nothing
    was sent yet: a repeat (a double tap, an old tab) stores nothing and returns False.

    `values` by journey field name: Lead columns (encrypted where personal) or LeadExtraData."""
    _consent_in_force(lead)
    locked = Lead.objects.select_for_update().filter(
        pk=lead.pk, status=LeadStatus.OFFERED, chosen_offer_id=offer_id).first()
    if locked is None:
        return False
    columns = {name: value for name, value in values.items() if name in LEAD_COLUMNS and name not in ("email", "phone")}
    if columns:
        Lead.objects.filter(pk=locked.pk).update(updated_at=timezone.now(), **columns)  # encrypted as by save()
    extra = {name: str(value) for name, value in values.items() if name not in LEAD_COLUMNS}
    if extra:
        lead_extra_data_set(lead=locked, values=extra)
    # The contact data, given or as the journey holds it, goes in journey_details_submit's move.
    return journey_details_submit(lead=locked, email=str(values.get("email") or locked.email),
                                  phone=str(values.get("phone") or locked.phone))


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
    if lead_move(lead, from_statuses={LeadStatus.SUBMITTED}, to=LeadStatus.HANDED_OFF, handoff_url=url, handed_off_at=timezone.now()):
        lead_event_add(lead, LeadEvent.Kind.HANDED_OFF)
    return url


@transaction.atomic
def lead_postback_follow_up(*, lead_id: int, status: str) -> None:
    """What a postback that moved the lead to `status` sets off: the consumer's email (a
    notification row, sent by a task once committed) and the campaign's charge for the result
    (approved, disbursed). Both are once per lead and status whatever the repeats (unique rows),
    under the lead's lock like the move itself."""
    from apps.campaigns.services import campaign_result_charge

    lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    _notify_status_change(lead, status)
    campaign_result_charge(lead=lead, status=status)
    lead_changed_on_commit(lead)


def lead_notify(lead: Lead, topic: str) -> None:
    """Email the consumer about `topic` (a status, or a consent topic: models.NOTIFICATION_TOPICS)
    once the caller's transaction commits; once per lead and topic."""
    _notify_status_change(lead, topic)


def _notify_status_change(lead: Lead, status: str) -> None:
    """The consumer hears of each real change by email: the notification row is written in this
    transaction, and its task, given ids only, is enqueued once it is committed. robust: a broker
    down at that moment must not undo the follow-up (the notification sweep sends it later)."""
    from apps.leads import notifications

    if notifications.lead_notification_prepare(lead=lead, status=status):
        transaction.on_commit(
            lambda: notifications.lead_status_notify_enqueue(lead_id=lead.pk, status=status), robust=True
        )


# --- The hosted flow's bookkeeping: consents, language, the origin's reference ------------------


def consent_record(
    *, lead: Lead, kinds: list[str], text_version: str, ip_address: str | None, accepted_at: datetime | None = None,
    text_id: int | None = None, language: str = "",
) -> int:
    """Store each consent the consumer accepted, with the exact text they saw (`text_id`, a
    published legal.ConsentText, in `language`) and their address (Colombia's habeas data: Ley 1581
    de 2012 asks to be able to prove the authorization). Without `text_id` (an origin names only a
    version) the version's text in the journey's language and mode is recorded. Accepting the same
    version again stores nothing new. Returns how many rows were added."""
    from apps.leads.consents import consent_text_for_version
    from apps.leads.models import Consent

    if text_id is None:
        language = language or lead.language
        text = consent_text_for_version(version=text_version, language=language, compare_mode=lead.compare_mode)
        text_id, language = (text.pk, text.language) if text else (None, language)
    now = accepted_at or timezone.now()
    created = Consent.objects.bulk_create(
        [Consent(lead=lead, kind=kind, text_version=text_version, accepted_at=now, ip_address=ip_address,
                 text_id=text_id, language=language)
         for kind in kinds],
        ignore_conflicts=True,
    )
    if created:
        _notify_status_change(lead, CONSENT_RECEIPT)
    return len(created)


def journey_language_set(*, lead: Lead, language: str) -> bool:
    """Remember the language the consumer reads the flow in: their emails follow it."""
    if lead.language == language:
        return False
    Lead.objects.filter(pk=lead.pk).update(language=language)
    lead.language = language
    return True


def journey_origin_reference_set(*, lead: Lead, reference: str) -> bool:
    """The origin's own reference from a verified deep link, kept on the journey it opened."""
    if not reference or lead.origin_reference:
        return False
    Lead.objects.filter(pk=lead.pk, origin_reference="").update(origin_reference=reference[:128])
    lead.origin_reference = reference[:128]
    return True


# --- Compare mode in the hosted flow -------------------------------------------------------------


@transaction.atomic
def journey_compare_start(*, origin, origin_reference: str = "", announces_changes: bool = False) -> Lead:
    """A compare-mode journey (Origin.compare_mode): no listing or lender yet; identity and
    income are asked once and every eligible lender is asked at once (journey_compare_request).
    The chosen offer sets the lender, listing and campaign (journey_offer_choose).

    `origin_reference` is the origin's own reference for the journey, when it gave one (an
    origin's API lead: its partnerLeadId); `announces_changes` makes its changes send
    apps.leads.signals.lead_changed (an API lead, whose origin hears of them by callback)."""
    lead = Lead.objects.create(
        origin=origin, tracking_id=tracking_id_mint(origin=origin), public_token=secrets.token_urlsafe(32),
        compare_mode=True, origin_reference=origin_reference[:128], announces_changes=announces_changes,
    )
    lead_event_add(lead, LeadEvent.Kind.STARTED, "compare")
    return lead


@transaction.atomic
def journey_compare_identity_submit(
    *, lead: Lead, identity: IdentityData, entries, consents: ConsentsGiven | None = None,
) -> list[int]:
    """Store identity and income once (with the consents given, when passed), then ask every
    lender of `entries` (catalog entries) for a decision. The row lock makes a double submit
    find the journey moved on and change nothing."""
    if not Lead.objects.select_for_update(no_key=True).filter(pk=lead.pk, status=LeadStatus.NEW, compare_mode=True).exists():
        return []
    _consents_store(lead, consents)
    values = _identity_values(identity)
    for name, value in values.items():
        setattr(lead, name, value)
    lead.save(update_fields=list(values))
    return journey_compare_request(lead=lead, entries=entries)
