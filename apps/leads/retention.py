"""Leads never handed off, past their retention (prosperas/retention.py; README "Data life cycle").

A journey that never reached its lender (handed_off_at empty, still in a step of the hosted flow)
and has had no activity for RETENTION_ABANDONED_LEADS_DAYS is gone from the consumer's life; its
personal data has no purpose left.

- **Deleted**, with everything that hangs from it (decisions, offers, compare asks, submission,
  timeline, consents, notifications, extra data, lender calls), when nothing must keep it.
- **Anonymised** when something must outlive it: any relation that PROTECTs a lead, found in the
  model registry — today a campaign's ledger entry (a delivery is charged when the consumer gives
  identity, before any hand-off: billing must keep its lead) and a postback event (the lender's
  record) — or a stage of the funnel report that counts the lead's own row (its decisions, its
  submission: `apps.leads.reports.counted_in_funnel`). Its encrypted columns are blanked and its
  extra data deleted; the row keeps its origin, lender, product, campaign, status, amounts and
  dates, so the ledger, the funnel report and billing read exactly what they read before.

So what is deleted is mostly journeys abandoned before the consumer gave identity, and journeys
outside any campaign. The funnel report's rollup (apps/leads/funnel_rollup.py) keeps counting a
lead deleted after it was counted, but the report reads the raw rows before the rollup's first
run and for leads moved since its mark, so the rows that some stage counts are kept all the same.

A handed-off lead is not this kind: the lender has it, and the lead's record is the platform's
side of a credit application.
"""

from datetime import datetime
from functools import reduce
from operator import or_

from django.db.models import Exists, OuterRef, PROTECT, Q, QuerySet

from apps.leads.models import Lead, LeadExtraData, LeadStatus
from apps.leads.reports import counted_in_funnel
from prosperas.crypto import EncryptedTextField
from prosperas.key_rotation import encrypted_field_classes
from prosperas.retention import Purge, retention_days

# The steps of the hosted flow, before the consumer is handed to the lender.
BEFORE_HAND_OFF = [
    LeadStatus.NEW, LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED,
    LeadStatus.NOT_ELIGIBLE, LeadStatus.DECISION_FAILED, LeadStatus.SUBMITTING, LeadStatus.SUBMISSION_FAILED,
    LeadStatus.SUBMITTED,
]


def _abandoned(cutoff: datetime) -> QuerySet:
    return Lead.objects.filter(handed_off_at__isnull=True, status__in=BEFORE_HAND_OFF, updated_at__lt=cutoff)


def _kept() -> Q:
    """A lead some PROTECT relation refers to (the ledger, postback events, whatever is added),
    or one the funnel report counts."""
    references = [
        Q(Exists(relation.related_model._base_manager.filter(**{relation.field.name: OuterRef("pk")})))
        for relation in Lead._meta.related_objects
        if relation.on_delete is PROTECT and relation.related_model is not Lead
    ]
    return reduce(or_, references, counted_in_funnel())


def _personal_fields() -> list:
    return [field for field in Lead._meta.local_concrete_fields if isinstance(field, encrypted_field_classes())]


def _holds_personal_data() -> Q:
    """Any encrypted column not blank, or extra data kept."""
    held = Q(Exists(LeadExtraData.objects.filter(lead=OuterRef("pk"))))
    for field in _personal_fields():
        blank = field.get_default()
        if blank is None:
            held |= Q(**{f"{field.name}__isnull": False})
        elif isinstance(field, EncryptedTextField) and blank == "":
            held |= ~Q(**{field.name: ""}) & Q(**{f"{field.name}__isnull": False})
        else:  # a blank value that encrypts to a fresh token every time cannot be compared: check the rest
            continue
    return held


def abandoned_leads_deletable(cutoff: datetime) -> QuerySet:
    return _abandoned(cutoff).exclude(_kept())


def abandoned_leads_to_anonymise(cutoff: datetime) -> QuerySet:
    return _abandoned(cutoff).filter(_kept()).filter(_holds_personal_data())


def abandoned_leads_delete(leads: QuerySet) -> None:
    # A chosen offer PROTECTs the offer from its own lead: let go of it, then delete.
    leads.update(chosen_offer=None)
    leads.delete()


def abandoned_leads_anonymise(leads: QuerySet) -> None:
    LeadExtraData.objects.filter(lead__in=leads).delete()
    leads.update(**{field.name: field.get_default() for field in _personal_fields()})


PURGES = [
    Purge(kind="abandoned_leads", action="anonymise", model=Lead,
          description="leads never handed off that the ledger, a postback event or the funnel keeps: personal data blanked",
          due=abandoned_leads_to_anonymise, apply=abandoned_leads_anonymise,
          retention=retention_days("abandoned_leads")),
    Purge(kind="abandoned_leads", action="delete", model=Lead,
          description="leads never handed off, with their decisions, calls, timeline and consents",
          due=abandoned_leads_deletable, apply=abandoned_leads_delete, retention=retention_days("abandoned_leads")),
]
