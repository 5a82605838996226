"""A consumer's data request (Ley 1581 de 2012: access and erasure), by document number.

- `consumer_data_export`: everything we hold about the person, decrypted (it goes to the data
  subject): each of their journeys with every row that hangs from it, found through the model
  registry (decisions and their offers, compare asks, submission, timeline, consents,
  notifications, extra data, lender calls with their stored (masked) exchanges, postback events,
  ledger entries...), so a table added later is exported without touching this module; and the
  emails kept in the demo's outbox that were addressed to them.
- `consumer_data_erase`: their personal data removed or pseudonymised while the records the
  platform must keep stay: each journey keeps its row (tracking ID, origin, lender, product,
  campaign, status, amounts, income band, dates) so the ledger, billing, the funnel and the
  lender statistics read what they read before; its encrypted columns are blanked and its extra
  data deleted (as the retention purge anonymises, apps/leads/retention.py), consents keep what
  was accepted and when but not the address it came from, the stored lender exchanges and the
  postback events' raw requests are blanked (the calls and events themselves kept), and outbox
  emails to them are deleted.

Both are recorded in the audit log (django-auditlog) against each journey, with who asked and
which kind of request, never the document number; and as a DataRequest row.

Leads are found by decrypting each journey's document number: the column is encrypted with a
fresh nonce each time, so no index can find it. A request reads every journey that gave its
identity, in batches; see README "Data life cycle" for what that costs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from auditlog.models import LogEntry
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from apps.leads.consumer_data import document_number_normalise
from apps.leads.models import Consent, Lead, LeadEvent, OutboxMessage
from apps.leads.moves import lead_event_add
from apps.leads.retention import abandoned_leads_anonymise
from apps.lenders.models import LenderCall
from apps.lifecycle.models import DataRequest
from apps.postbacks.models import PostbackEvent

SCAN_BATCH = 2000
# How deep the export follows reverse relations from a lead (lead → decision → offer → terms).
EXPORT_DEPTH = 3


class DataRequestRefused(Exception):
    """The request cannot be served as asked (no document number)."""


@dataclass
class ErasureResult:
    lead_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)


def document_digest(document_number: str) -> str:
    """A keyed digest of the normalised number: tells two requests for one person apart from
    others in the DataRequest log without keeping the number."""
    key = hashlib.sha256(f"prosperas-data-request:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, document_number_normalise(document_number).encode(), hashlib.sha256).hexdigest()


def consumer_lead_ids(document_number: str) -> list[int]:
    """Every journey whose consumer gave this document number (any document type)."""
    wanted = document_number_normalise(document_number or "")
    if not wanted:
        raise DataRequestRefused("A document number is required.")
    found = []
    rows = Lead.objects.exclude(document_number="").exclude(document_number__isnull=True)
    for pk, number in rows.order_by("pk").values_list("pk", "document_number").iterator(chunk_size=SCAN_BATCH):
        if number and document_number_normalise(number) == wanted:
            found.append(pk)
    return found


# --- export -----------------------------------------------------------------------------------


def _value(value):
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}
    return value


def _row(instance: models.Model, depth: int, seen: set) -> dict:
    """Every concrete field of a row (foreign keys as ids), decrypted by the fields themselves,
    with the rows that point at it."""
    seen.add((instance._meta.label, instance.pk))
    data = {f.attname: _value(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}
    if depth < EXPORT_DEPTH:
        for relation, rows in _related_rows(instance):
            kept = [row for row in rows if (row._meta.label, row.pk) not in seen]
            if kept:
                data[relation] = [_row(row, depth + 1, seen) for row in kept]
    return data


def _related_rows(instance: models.Model):
    for relation in instance._meta.related_objects:
        if relation.related_model is Lead or relation.hidden:
            continue
        if relation.one_to_one:
            row = relation.related_model._base_manager.filter(**{relation.field.name: instance.pk}).first()
            if row is not None:
                yield relation.related_model._meta.label, [row]
        elif relation.one_to_many:
            manager = relation.related_model._base_manager
            rows = list(manager.filter(**{relation.field.name: instance.pk}).order_by("pk"))
            if rows:
                yield relation.related_model._meta.label, rows


def _outbox_for(emails: set[str]) -> list[OutboxMessage]:
    if not emails:
        return []
    wanted = {email.lower() for email in emails}
    return [message for message in OutboxMessage.objects.order_by("pk")
            if wanted & {part.strip().lower() for part in (message.recipients or "").split(",")}]


def consumer_data_export(*, document_number: str, actor=None) -> dict:
    """Everything held about the person with this document number, as JSON-ready data."""
    lead_ids = consumer_lead_ids(document_number)
    leads = list(Lead.objects.filter(pk__in=lead_ids).order_by("pk"))
    seen: set = set()
    exported = {
        "generated_at": timezone.now().isoformat(),
        "document_number": document_number_normalise(document_number),
        "journeys": [_row(lead, 0, seen) for lead in leads],
        "emails_sent": [_row(message, EXPORT_DEPTH, seen)
                        for message in _outbox_for({lead.email for lead in leads if lead.email})],
    }
    _record(DataRequest.Kind.EXPORT, document_number, leads, actor, LogEntry.Action.ACCESS)
    return json.loads(json.dumps(exported, cls=DjangoJSONEncoder))


# --- erasure ----------------------------------------------------------------------------------


def consumer_data_erase(*, document_number: str, actor=None) -> ErasureResult:
    """Remove or pseudonymise the person's data, keeping the ledger, aggregates and billing."""
    lead_ids = consumer_lead_ids(document_number)
    result = ErasureResult(lead_ids=lead_ids)
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(pk__in=lead_ids).order_by("pk"))
        emails = {lead.email for lead in leads if lead.email}
        outbox = _outbox_for(emails)
        queryset = Lead.objects.filter(pk__in=lead_ids)
        abandoned_leads_anonymise(queryset)  # encrypted columns blanked, extra data deleted
        result.counts["leads pseudonymised"] = len(leads)
        result.counts["consent addresses removed"] = Consent.objects.filter(lead_id__in=lead_ids).exclude(
            ip_address=None).update(ip_address=None)
        result.counts["lender exchanges blanked"] = LenderCall.objects.filter(lead_id__in=lead_ids).exclude(
            request_body="", response_body="").update(request_body="", response_body="")
        result.counts["postback requests blanked"] = PostbackEvent.objects.filter(lead_id__in=lead_ids).update(
            raw_body=b"", headers={}, nonce="", metadata={})
        result.counts["emails deleted"] = OutboxMessage.objects.filter(pk__in=[m.pk for m in outbox]).delete()[0]
        for lead in leads:
            lead_event_add(lead, LeadEvent.Kind.STAFF, "Personal data erased at the consumer's request.")
        _record(DataRequest.Kind.ERASURE, document_number, leads, actor, LogEntry.Action.UPDATE)
    return result


def _record(kind: str, document_number: str, leads: list[Lead], actor, action: int) -> None:
    staff = actor if getattr(actor, "pk", None) else None
    DataRequest.objects.create(kind=kind, document_digest=document_digest(document_number), leads_found=len(leads),
                               requested_by=staff)
    for lead in leads:
        LogEntry.objects.log_create(lead, force_log=True, action=action, actor=staff,
                                    changes={"data_request": [None, kind]}, additional_data={"data_request": kind})
