"""What the lenders app keeps for a limited time (prosperas/retention.py; README "Data life cycle").

- Lender calls: the request and response bodies (masked already, but still the consumer's data
  as the lender saw it) are blanked after RETENTION_LENDER_CALL_BODIES_DAYS; the row stays, with
  its lender, capability, attempt, outcome, HTTP status, error and timings, so call statistics,
  the circuit breaker's history and a lead's timeline keep every attempt.
- Refused signed requests (PostbackAuthFailure): deleted after RETENTION_REFUSED_REQUESTS_DAYS.
- Nonces of signed requests that record no event: deleted once a replay would be refused by its
  timestamp anyway (POSTBACK_NONCE_RETENTION_SECONDS, twice the tolerance).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from apps.lenders.models import LenderCall, PostbackAuthFailure, PostbackNonce
from prosperas.retention import Purge, retention_days


def lender_call_bodies_due(cutoff: datetime) -> QuerySet:
    return LenderCall.objects.filter(started_at__lt=cutoff).exclude(request_body="", response_body="")


def refused_requests_due(cutoff: datetime) -> QuerySet:
    return PostbackAuthFailure.objects.filter(hour__lt=cutoff)  # counted per hour: the hour's start


def nonces_due(cutoff: datetime) -> QuerySet:
    return PostbackNonce.objects.filter(seen_at__lt=cutoff)


def nonce_retention() -> timedelta:
    return timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS)


PURGES = [
    Purge(kind="lender_call_bodies", action="blank", model=LenderCall,
          description="lender calls' request and response bodies (the call, its outcome and timings kept)",
          due=lender_call_bodies_due, apply=lambda rows: rows.update(request_body="", response_body=""),
          retention=retention_days("lender_call_bodies")),
    Purge(kind="refused_requests", action="delete", model=PostbackAuthFailure,
          description="refused signed requests (counts per reason and address)",
          due=refused_requests_due, apply=lambda rows: rows.delete(), retention=retention_days("refused_requests")),
    Purge(kind="signed_request_nonces", action="delete", model=PostbackNonce,
          description="nonces of signed requests past twice the timestamp tolerance",
          due=nonces_due, apply=lambda rows: rows.delete(), retention=nonce_retention),
]
