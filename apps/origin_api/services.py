"""Writes of the origins' API: OAuth2 clients per origin and environment (made, rotated with an
overlap, retired) and the leads origins submit, which run on the hosted flow's compare-mode
engine (apps.leads.services): the same catalog, campaigns' conditions, caps and budgets,
consents and circuit breaker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, get_application_model

from apps.campaigns.catalog import CatalogEntry, catalog_for_origin
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.services import ConsentsGiven, IdentityData, journey_compare_identity_submit, journey_compare_start
from apps.lenders.selectors import lender_required_fields
from apps.origin_api.models import OriginApiClient, OriginLead
from apps.origin_api.selectors import origin_lead_find
from apps.origins.models import Origin

# --- Clients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCredentials:
    """A new client and its secret in clear: the only time the secret is seen (it is stored hashed)."""

    client: OriginApiClient
    client_id: str
    client_secret: str


@transaction.atomic
def origin_client_create(*, origin: Origin, environment: str, overlap: timedelta | None = None) -> IssuedCredentials:
    """A new OAuth2 client (client credentials) for the origin in that environment.

    The origin's earlier clients there keep working for `overlap` (settings
    ORIGIN_API_ROTATION_OVERLAP_HOURS by default), so the origin can roll the new secret out
    before the old one stops: two clients are active during the overlap, then only the new one.
    """
    if overlap is None:
        overlap = timedelta(hours=settings.ORIGIN_API_ROTATION_OVERLAP_HOURS)
    list(Origin.objects.select_for_update().filter(pk=origin.pk).values_list("pk"))  # one rotation at a time
    retires_at = timezone.now() + overlap
    earlier = OriginApiClient.objects.filter(origin=origin, environment=environment)
    earlier.filter(retires_at__isnull=True).update(retires_at=retires_at)
    earlier.filter(retires_at__gt=retires_at).update(retires_at=retires_at)
    secret = generate_client_secret()
    Application = get_application_model()
    application = Application.objects.create(
        name=f"{origin.code} ({environment})", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret=secret,
        hash_client_secret=True,
    )
    client = OriginApiClient.objects.create(origin=origin, environment=environment, application=application)
    return IssuedCredentials(client=client, client_id=application.client_id, client_secret=secret)


@transaction.atomic
def origin_client_retire(*, client: OriginApiClient) -> None:
    """Stop a client now: no new token, and the tokens it holds are revoked."""
    OriginApiClient.objects.filter(pk=client.pk).update(retires_at=timezone.now())
    AccessToken.objects.filter(application_id=client.application_id).delete()


# --- Leads -----------------------------------------------------------------------------------------

# Lead columns and LeadExtraData fields an origin may send beyond identity, income and contact:
# a lender whose adapter declares one the origin did not send is not asked.
EXTRA_DATA_FIELDS = ("employment_status", "address_line", "city", "postal_code")


@dataclass(frozen=True)
class LeadSubmission:
    partner_lead_id: str
    identity: IdentityData
    extra_data: dict[str, str]  # EXTRA_DATA_FIELDS given
    loan_purpose: str
    consents: ConsentsGiven
    body_digest: str  # lead_body_digest of the request's body


@dataclass(frozen=True)
class LeadSubmitted:
    origin_lead: OriginLead
    created: bool  # False: the same request came before, this is its lead


class PartnerLeadConflict(Exception):
    """The origin already submitted a different lead under this partnerLeadId."""

    def __init__(self, origin_lead: OriginLead) -> None:
        self.origin_lead = origin_lead
        super().__init__(f"partnerLeadId {origin_lead.partner_lead_id} was used for another lead.")


def lead_body_digest(data: Any) -> str:
    """A keyed digest of a request body as canonical JSON (keys sorted, no spaces), so key order
    and spacing do not make two requests differ. Keyed (SECRET_KEY): the body holds personal data,
    and a plain hash of it could be tested against guesses."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return salted_hmac("apps.origin_api.lead_body", canonical, algorithm="sha256").hexdigest()


def origin_lead_submit(*, client: OriginApiClient, submission: LeadSubmission) -> LeadSubmitted:
    """The origin's lead, once per partnerLeadId in the client's origin and environment: the
    same body again answers with the lead it made; another body raises PartnerLeadConflict.

    Two identical requests at once: the second one's insert waits on the first's unique row and
    fails when it commits, and then finds its lead.
    """
    existing = origin_lead_find(origin=client.origin, environment=client.environment,
                                partner_lead_id=submission.partner_lead_id)
    if existing is None:
        try:
            return LeadSubmitted(origin_lead=_lead_create(client, submission), created=True)
        except IntegrityError:
            existing = origin_lead_find(origin=client.origin, environment=client.environment,
                                        partner_lead_id=submission.partner_lead_id)
            if existing is None:
                raise
    if not constant_time_compare(existing.body_digest, submission.body_digest):
        raise PartnerLeadConflict(existing)
    return LeadSubmitted(origin_lead=existing, created=False)


@transaction.atomic
def _lead_create(client: OriginApiClient, submission: LeadSubmission) -> OriginLead:
    """A compare-mode journey as the hosted flow runs one (journey_compare_start, then identity
    with consents and every eligible lender asked at once), plus the API's own row. The row is
    inserted right after the journey, before any campaign is charged, so a duplicate stops early."""
    lead = journey_compare_start(origin=client.origin, origin_reference=submission.partner_lead_id,
                                 announces_changes=True)
    origin_lead = OriginLead.objects.create(
        lead=lead, origin=client.origin, environment=client.environment, client=client,
        partner_lead_id=submission.partner_lead_id, body_digest=submission.body_digest,
        loan_purpose=submission.loan_purpose,
        search_deadline=timezone.now() + timedelta(seconds=settings.ORIGIN_API_SEARCH_TIMEOUT_SECONDS),
    )
    if submission.extra_data:
        lead_extra_data_set(lead=lead, values=submission.extra_data)
    entries = origin_catalog(origin=client.origin, environment=client.environment,
                             fields_given=_fields_given(submission))
    journey_compare_identity_submit(lead=lead, identity=submission.identity, entries=entries,
                                    consents=submission.consents)
    return origin_lead


def _fields_given(submission: LeadSubmission) -> set[str]:
    identity = submission.identity
    given = {name for name in ("email", "phone", "birth_date", "region") if getattr(identity, name)}
    if identity.requested_amount is not None:
        given.add("requested_amount")
    return given | set(submission.extra_data)


def origin_catalog(*, origin: Origin, environment: str, fields_given: set[str]) -> list[CatalogEntry]:
    """The catalog entries an API lead is asked of: the origin's catalog as the hosted flow ranks
    it (campaigns, caps, budgets and conditions are checked again when the lead is delivered),
    limited to lenders of the client's environment whose declared fields the origin sent."""
    return [
        entry for entry in catalog_for_origin(origin=origin)
        if entry.campaign.lender.environment == environment
        and set(lender_required_fields(entry.campaign.lender)) <= fields_given
    ]
