"""A small marketplace walked through the real services, for the rollups and the dashboards."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.leads import services as lead_services
from apps.leads.engine.results import decision_record, submission_record
from apps.leads.models import Lead
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult, Offer, SubmissionResult
from tests.campaigns.conftest import IDENTITY, started
from tests.factories import shelf_with
from tests.support import postback_apply

APPROVED = DecisionResult(decision=DecisionKind.APPROVED, offers=(Offer(
    lender_offer_id="OF-1", amount=Decimal("5000000"), term_months=24, monthly_payment=Decimal("265000"),
    annual_rate=Decimal("0.28"), url="https://lender.example/offer/1"),))
REJECTED = DecisionResult(decision=DecisionKind.REJECTED, reason="low income")


def walk(shelf, *, decision: DecisionResult | None, handed_off: bool = False, result: str = "") -> Lead:
    """One journey as far as asked, through the real services."""
    lead = started(shelf)
    lead_services.journey_identity_submit(lead=lead, identity=IDENTITY)
    if decision is None:
        return lead
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=decision)
    if not handed_off:
        return lead
    lead.refresh_from_db()
    lead_services.journey_offer_choose(lead=lead, offer_id=lead.decisions.get().offers.get().pk)
    lead_services.journey_details_submit(lead=lead, email="ana@example.com", phone="+573001234567")
    submission_record(lead_id=lead.pk, result=SubmissionResult(status="ok", redirect_url="https://l.example/x"))
    lead.refresh_from_db()
    lead_services.journey_handoff(lead=lead)
    if result:
        postback_apply(lead, result, occurred_at=timezone.now())
    return lead


def backdate(lead: Lead, days: int) -> None:
    """Move a lead's start (and last change) `days` back, as if it had started then."""
    moment = timezone.now() - timedelta(days=days)
    Lead.objects.filter(pk=lead.pk).update(created_at=moment, updated_at=moment)


@pytest.fixture
def market(db):
    shelf = shelf_with(price_per_lead=Decimal("1000"), price_per_approved=Decimal("4000"),
                       price_per_disbursed=Decimal("10000"), budget=Decimal("1000000"), daily_lead_cap=50,
                       total_lead_cap=100)
    walk(shelf, decision=None)
    walk(shelf, decision=REJECTED)
    walk(shelf, decision=APPROVED, handed_off=True)
    walk(shelf, decision=APPROVED, handed_off=True, result="approved")
    walk(shelf, decision=APPROVED, handed_off=True, result="disbursed")
    return shelf


def calls_over_days(lender, days: int = 7) -> None:
    """A week of a lender's decision calls: slower and more failing each day."""
    from apps.lenders.models import LenderCall

    lead = Lead.objects.filter(lender=lender).first()
    calls = []
    for back in range(days):
        started_at = timezone.now() - timedelta(days=back, minutes=5)
        for number in range(20):
            outcome = "technical_failure" if number < back else ("approved" if number % 3 else "rejected")
            calls.append(LenderCall(lender=lender, lead=lead, capability="prequalify", attempt=number + 1,
                                    idempotency_key="k", outcome=outcome, started_at=started_at,
                                    finished_at=started_at, duration_ms=300 + 700 * back + 150 * number))
    LenderCall.objects.bulk_create(calls)
