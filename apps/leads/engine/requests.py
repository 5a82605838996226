"""The frozen requests an adapter receives, built from the journey: identity, income and the
catalog entry for a decision; the chosen offer too for a submission. Consumer data is
decrypted here, in the worker, and never travels through the broker. Each request carries only
the fields released to the lender it is for (apps/lenders/release.py)."""

from __future__ import annotations

from django.db import transaction

from apps.leads.engine.outcomes import MissingJourneyData
from apps.leads.models import DecisionRequest, Lead, LeadExtraData
from apps.lenders.adapters.base import JOURNEY_FIELDS, Consumer, Offer, PrequalifyRequest, SubmitRequest
from apps.lenders.models import Lender
from apps.lenders.release import consumer_release, lender_released_fields
from apps.lenders.selectors import lender_required_fields

# Lead columns an adapter's declared JOURNEY_FIELDS are read from; the others live in LeadExtraData.
LEAD_COLUMNS = ("email", "phone", "birth_date", "region", "requested_amount")


def lead_extra_values(lead: Lead) -> dict[str, str]:
    row = LeadExtraData.objects.filter(lead_id=lead.pk).first()
    return {str(name): str(value) for name, value in ((row.values or {}) if row else {}).items()}


def journey_fields_given(lead: Lead) -> set[str]:
    """The journey fields this journey holds a value for (Lead columns and LeadExtraData)."""
    given = {name for name in LEAD_COLUMNS if getattr(lead, name) not in (None, "")}
    return given | set(lead_extra_values(lead))


def submission_fields_missing(lead: Lead) -> tuple[str, ...]:
    """What the journey's lender declares it needs for the submission (its prequalify and submit
    fields released to it: apps.lenders.selectors.lender_required_fields) that the journey does
    not hold: sent without them, the application would reach the lender incomplete."""
    if lead.lender_id is None:
        return ()
    given = journey_fields_given(lead)
    return tuple(name for name in lender_required_fields(lead.lender, capability="submit") if name not in given)


def consumer_from_lead(lead: Lead, *, extra_data: bool = True) -> Consumer:
    if not (lead.document_type and lead.document_number and lead.full_name and lead.monthly_income is not None):
        raise MissingJourneyData("The journey has no identity and income to send.")
    return Consumer(
        document_type=lead.document_type, document_number=lead.document_number, full_name=lead.full_name,
        monthly_income=int(lead.monthly_income), currency=lead.currency, email=lead.email or "", phone=lead.phone or "",
        birth_date=lead.birth_date or "", region=lead.region or "",
        extra=lead_extra_values(lead) if extra_data else {},
    )


def lead_personal_values(lead: Lead) -> list[str]:
    try:
        return consumer_from_lead(lead).personal_values()
    except MissingJourneyData:
        return [value for value in (lead.document_number, lead.full_name, lead.email, lead.phone) if value]


def prequalify_request_build(
    lead: Lead, *, ask: DecisionRequest | None = None, extra_data: bool = True, lender: Lender | None = None,
) -> PrequalifyRequest:
    """The decision request; in compare mode, for the catalog entry this lender was asked for.
    `extra_data`: whether to read LeadExtraData (an adapter that never reads it saves a query);
    `lender`: the lender it is for (the ask's, else the journey's), whose released fields it carries."""
    product, listing = (ask.product, ask.listing) if ask is not None else (lead.product, lead.listing)
    if product is None or listing is None:
        raise MissingJourneyData("The journey has no product or listing to apply for.")
    released = lender_released_fields(lender or (ask.lender if ask is not None else lead.lender))
    return PrequalifyRequest(
        tracking_id=lead.tracking_id, product_id=product.product_id, listing_id=listing.listing_id,
        consumer=consumer_release(consumer_from_lead(lead, extra_data=extra_data), released),
        requested_amount=(int(lead.requested_amount) if lead.requested_amount is not None
                          and "requested_amount" in released else None),
    )


def submit_request_build(lead: Lead, *, lender: Lender | None = None) -> SubmitRequest:
    if lead.product is None or lead.listing is None:
        raise MissingJourneyData("The journey has no product or listing to apply for.")
    chosen = lead.chosen_offer
    if chosen is None:
        raise MissingJourneyData("The journey has no chosen offer to submit.")
    offer = Offer(
        lender_offer_id=chosen.lender_offer_id, amount=chosen.amount, term_months=chosen.term_months,
        monthly_payment=chosen.monthly_payment, annual_rate=chosen.annual_rate, currency=chosen.currency, url=chosen.url,
    )
    released = lender_released_fields(lender or lead.lender)
    return SubmitRequest(
        tracking_id=lead.tracking_id, product_id=lead.product.product_id, listing_id=lead.listing.listing_id,
        consumer=consumer_release(consumer_from_lead(lead), released), offer=offer,
        lender_reference=lead.lender_reference,
    )


def lead_extra_data_set(*, lead: Lead, values: dict[str, str]) -> None:
    """Store journey data an adapter declared that Lead has no column for (the flow calls this).

    Only JOURNEY_FIELDS names are accepted; Lead's own columns (email, phone, birth_date, region,
    requested_amount) are set on the Lead, not here. Blank values remove a field.
    """
    unknown = [name for name in values if name not in JOURNEY_FIELDS or name in LEAD_COLUMNS]
    if unknown:
        raise ValueError(f"Not extra journey fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        row, _ = LeadExtraData.objects.select_for_update().get_or_create(lead=lead)
        merged = {**(row.values or {}), **{name: str(value).strip() for name, value in values.items()}}
        row.values = {name: value for name, value in merged.items() if value}
        row.save()
