"""Reads about lenders: attempt counts, the retry budget, work that is due, compare-mode
status, call statistics, rejection categories and their consumer-safe sentences, and the
journey data each lender's adapter needs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from apps.leads.models import Decision, Lead, LeadEvent, LeadStatus, Offer
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import JOURNEY_FIELDS, AdapterConfigurationError, AmountGroup, RejectionCategory
from apps.lenders.adapters.parsing import sanitized_notice
from apps.lenders.models import Lender, LenderCall
from apps.leads.models import DecisionReason, DecisionRequest

# The lead states in which a lender call is owed, and the capability that owes it.
WAITING_ON_LENDER = {
    LeadStatus.AWAITING_DECISION: LenderCall.Capability.PREQUALIFY,
    LeadStatus.SUBMITTING: LenderCall.Capability.SUBMIT,
}


def lender_calls_for(*, lead_id: int, lender_id: int, capability: str) -> QuerySet[LenderCall]:
    return LenderCall.objects.filter(lead_id=lead_id, lender_id=lender_id, capability=capability)


def lender_call_attempt_count(*, lead_id: int, lender_id: int, capability: str) -> int:
    """Every attempt ever made for this lead, lender and capability (numbers the next one)."""
    return lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).count()


def lender_round_started_at(*, lead_id: int) -> datetime | None:
    """When the current round of attempts began: the consumer's last "try again", if any.

    The retry budget (Lender.max_retries) is spent per round, so a consumer who retries after a
    technical failure gets a fresh set of attempts, while a task redelivered by the broker or
    re-enqueued by the sweep does not.
    """
    event = LeadEvent.objects.filter(lead_id=lead_id, kind=LeadEvent.Kind.RETRY).order_by("-created_at").first()
    return event.created_at if event else None


def lender_technical_failures_in_round(*, lead_id: int, lender_id: int, capability: str) -> int:
    calls = lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).filter(
        outcome=LenderCall.Outcome.TECHNICAL_FAILURE
    )
    started = lender_round_started_at(lead_id=lead_id)
    if started is not None:
        calls = calls.filter(started_at__gte=started)
    return calls.count()


def lender_calls_in_flight(
    *, lead_id: int, lender_id: int, capability: str, started_after: datetime
) -> QuerySet[LenderCall]:
    return lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).filter(
        outcome=LenderCall.Outcome.IN_FLIGHT, started_at__gt=started_after
    )


def leads_due_for_lender_work(*, stale_before: datetime, limit: int) -> list[Lead]:
    """Journeys waiting on a lender with no news since `stale_before`: their task was lost.

    "No news" means the lead has not moved and no call of any outcome started since then: a
    lead between two retries has a recent failed call and is left to its own retry.
    """
    recent_calls = LenderCall.objects.filter(lead=OuterRef("pk"), started_at__gte=stale_before)
    return list(
        Lead.objects.filter(status__in=list(WAITING_ON_LENDER), updated_at__lt=stale_before, lender__isnull=False)
        .exclude(Exists(recent_calls))
        .order_by("updated_at")
        .only("pk", "status", "lender_id")[:limit]
    )


def lender_calls_for_lead(*, lead_id: int) -> QuerySet[LenderCall]:
    """A lead's calls, oldest first, for its timeline."""
    return LenderCall.objects.filter(lead_id=lead_id).select_related("lender").order_by("started_at", "id")


def lender_recent_outcomes(*, lender_id: int, limit: int, since: datetime) -> list[str]:
    """Outcomes of the lender's most recent finished outbound calls (the circuit breaker's window)."""
    return list(
        LenderCall.objects.filter(lender_id=lender_id, started_at__gte=since, capability__in=OUTBOUND_CAPABILITIES)
        .exclude(outcome=LenderCall.Outcome.IN_FLIGHT)
        .order_by("-started_at")
        .values_list("outcome", flat=True)[:limit]
    )


OUTBOUND_CAPABILITIES = (LenderCall.Capability.PREQUALIFY, LenderCall.Capability.SUBMIT, LenderCall.Capability.POLL)
COMPARE_OPEN_STATUSES = (LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED)


def decision_requests_due(*, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
    """Compare-mode asks with no decision and no call since `stale_before`: (lead_id, lender_id)."""
    recent_calls = LenderCall.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"), started_at__gte=stale_before)
    decided = Decision.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"))
    return list(
        DecisionRequest.objects.filter(
            state=DecisionRequest.State.ASKED, updated_at__lt=stale_before, lead__status__in=COMPARE_OPEN_STATUSES,
        )
        .exclude(Exists(recent_calls)).exclude(Exists(decided))
        .order_by("updated_at").values_list("lead_id", "lender_id")[:limit]
    )


def pending_decisions_due(*, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
    """Pending decisions nobody has asked about since `stale_before` (their poll task was lost)."""
    recent_calls = LenderCall.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"), started_at__gte=stale_before)
    ended_asks = DecisionRequest.objects.filter(lead=OuterRef("lead"), lender=OuterRef("lender"),
                                                state=DecisionRequest.State.FAILED)
    return list(
        Decision.objects.filter(
            outcome=Decision.Outcome.PENDING, updated_at__lt=stale_before,
            lead__status__in=(LeadStatus.AWAITING_DECISION, LeadStatus.DECISION_PENDING, LeadStatus.OFFERED),
        )
        .exclude(Exists(recent_calls)).exclude(Exists(ended_asks))
        .order_by("updated_at").values_list("lead_id", "lender_id")[:limit]
    )


# --- compare mode ---------------------------------------------------------------------------


def compare_status(*, lead_id: int) -> str:
    """A compare-mode journey's status from every asked lender's answer so far:

    - `offered` as soon as one lender approved with offers;
    - else `awaiting_decision` while no asked lender has answered or failed yet, and
      `decision_pending` while some have but others are still pending or awaiting;
    - else `decision_failed` when any asked lender failed (technically, permanently or by
      timing out): the consumer may try again, and only the failed lenders are asked again;
    - else `not_eligible`: every asked lender rejected (an approval without offers counts as one).

    Each of a fan-out's K decisions is stored with this worked out under the lead's lock, so it
    reads plain (lender, outcome) and (lender, state) pairs, no rows with counts, and stops at
    the first query once an approval with offers is stored.
    """
    if Offer.objects.filter(decision__lead_id=lead_id, decision__outcome=Decision.Outcome.APPROVED).exists():
        return LeadStatus.OFFERED
    outcomes = dict(Decision.objects.filter(lead_id=lead_id).values_list("lender_id", "outcome"))
    waiting = failed = answered = 0
    for lender_id, state in DecisionRequest.objects.filter(lead_id=lead_id).values_list("lender_id", "state"):
        outcome = outcomes.get(lender_id)
        if outcome is not None and outcome != Decision.Outcome.PENDING:
            answered += 1
        elif state == DecisionRequest.State.FAILED:
            failed += 1
        else:
            waiting += 1
            answered += outcome is not None  # a pending answer is an answer
    if waiting:
        return LeadStatus.DECISION_PENDING if (answered or failed) else LeadStatus.AWAITING_DECISION
    if failed or not answered:
        return LeadStatus.DECISION_FAILED
    return LeadStatus.NOT_ELIGIBLE


def compare_lenders(*, lead_id: int) -> list[DecisionRequest]:
    """The lenders a compare-mode journey asked, with the catalog entry each was asked for."""
    return list(
        DecisionRequest.objects.filter(lead_id=lead_id).select_related("lender", "listing", "product", "campaign")
        .order_by("created_at", "id")
    )


def compare_offers(*, lead: Lead) -> list[Offer]:
    """A compare-mode journey's offers from every lender that approved, each with its decision's
    lender and its OfferTerms (APR, fee, amount group) loaded; lowest monthly payment first."""
    return list(
        Offer.objects.filter(decision__lead=lead, decision__outcome=Decision.Outcome.APPROVED)
        .select_related("decision__lender", "terms").order_by("monthly_payment", "amount", "id")
    )


def decision_request_for_offer(offer: Offer) -> DecisionRequest | None:
    """The compare-mode ask an offer answers (its lender, listing, product and campaign)."""
    return (
        DecisionRequest.objects.filter(lead_id=offer.decision.lead_id, lender_id=offer.decision.lender_id)
        .select_related("listing", "product", "campaign").first()
    )


# --- what an adapter needs from the flow ----------------------------------------------------


def lender_required_fields(lender: Lender, *, capability: str = "prequalify") -> tuple[str, ...]:
    """JOURNEY_FIELDS this lender's adapter needs before `prequalify` (or `submit`): the flow asks
    the consumer for them. For submit, the prequalify fields are included."""
    try:
        cls = adapter_class(lender.adapter)
    except AdapterConfigurationError:
        return ()
    names = list(cls.prequalify_fields)
    if capability == "submit":
        names += [name for name in cls.submit_fields if name not in names]
    return tuple(names)


def journey_fields_for(lenders: list[Lender], *, capability: str = "prequalify") -> dict[str, str]:
    """The union of what these lenders need (compare mode asks once for all), with labels."""
    names: list[str] = []
    for lender in lenders:
        names += [name for name in lender_required_fields(lender, capability=capability) if name not in names]
    return {name: str(JOURNEY_FIELDS[name]) for name in names if name in JOURNEY_FIELDS}


# --- offers ---------------------------------------------------------------------------------


def offer_amount_group(offer: Offer, requested_amount: int | Decimal | None) -> str:
    """requested / higher / lower than the amount asked for (seed 002's amount ranges). The
    lender's own grouping wins when it gave one (OfferTerms); otherwise it is computed."""
    try:
        lender_group = offer.terms.amount_group
    except ObjectDoesNotExist:
        lender_group = ""
    if lender_group:
        return lender_group
    if requested_amount is None or offer.amount == Decimal(requested_amount):
        return AmountGroup.REQUESTED
    return AmountGroup.HIGHER if offer.amount > Decimal(requested_amount) else AmountGroup.LOWER


# --- rejections -----------------------------------------------------------------------------

# One consumer-safe sentence per category: never the lender's own words, which may be blunt,
# technical or in another language. Spanish is the platform's language (gettext for others).
REJECTION_SENTENCES = {
    RejectionCategory.INCOME: _("Con los ingresos que nos indicaste, esta entidad no puede ofrecerte un crédito por ahora."),
    RejectionCategory.AGE: _("Esta entidad no puede ofrecerte un crédito por el requisito de edad que exige."),
    RejectionCategory.REGION: _("Esta entidad todavía no presta en tu departamento o para este monto allí."),
    RejectionCategory.EXISTING_CUSTOMER: _(
        "Ya tienes una relación con esta entidad: comunícate con ella directamente para conocer tus opciones."
    ),
    RejectionCategory.CREDIT_POLICY: _("Por ahora tu solicitud no cumple las políticas de crédito de esta entidad."),
    RejectionCategory.INCOMPLETE_DATA: _(
        "La entidad no pudo evaluar tu solicitud con los datos que tenemos. Revisa tus datos e inténtalo de nuevo."
    ),
    RejectionCategory.OTHER: _("Esta entidad no puede ofrecerte un crédito en este momento."),
}

# Words that place a lender's free-text reason in a category, checked in this order (the first
# match wins: "existing customer" before "customer"-less credit words, age before policy).
_CATEGORY_PATTERNS: tuple[tuple[RejectionCategory, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern, re.IGNORECASE))
    for category, pattern in (
        (RejectionCategory.EXISTING_CUSTOMER, r"pre-?existing|existing[ _]customer|already[ _]a[ _]customer|ya es cliente|cliente actual"),
        (RejectionCategory.AGE, r"\bage\b|underage|minimum[ _]age|\bedad\b|menor de edad"),
        (RejectionCategory.REGION, r"\bstate\b|\bregion\b|departamento|\bzona\b|territor|not conduct business|cobertura"),
        (RejectionCategory.INCOME, r"income|ingreso|payment[ _]capacity|capacidad de pago|salar"),
        (RejectionCategory.INCOMPLETE_DATA, r"missing|incomplete|incomplet|required|faltan? datos"),
        (RejectionCategory.CREDIT_POLICY, r"policy|pol[ií]tica|score|credit|not[ _]eligible|no[ _]offers|matching offers|riesgo|risk"),
    )
)


def rejection_classify(text: str) -> str:
    """The category of a rejection from the lender's code and words ("other" when none fits)."""
    for category, pattern in _CATEGORY_PATTERNS:
        if pattern.search(text or ""):
            return category
    return RejectionCategory.OTHER


def rejection_category(decision: Decision) -> str:
    """A rejected decision's category: as stored when it was recorded, else from its reason."""
    detail = DecisionReason.objects.filter(decision=decision).values_list("category", flat=True).first()
    return detail or rejection_classify(decision.reason)


def rejection_sentence(category: str) -> str:
    """The sentence the consumer reads for a rejection of this category, in the active language."""
    try:
        return str(REJECTION_SENTENCES[RejectionCategory(category)])
    except ValueError:
        return str(REJECTION_SENTENCES[RejectionCategory.OTHER])


def decision_notice_html(decision: Decision) -> SafeString:
    """The lender's adverse action notice, sanitized (nh3), ready to render; empty when none."""
    html = DecisionReason.objects.filter(decision=decision).values_list("notice_html", flat=True).first() or ""
    return mark_safe(sanitized_notice(html))  # noqa: S308 - sanitized by nh3 just above


# --- staff statistics -----------------------------------------------------------------------

LATENCY_TARGET_MS = 5000  # seed 001: p95 under 5 seconds per call


@dataclass
class LenderCallStats:
    lender: Lender
    calls: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    by_outcome: dict[str, int] = field(default_factory=dict)

    @property
    def meets_target(self) -> bool | None:
        return None if self.p95_ms is None else self.p95_ms <= LATENCY_TARGET_MS

    def rate(self, outcome: str) -> float:
        return self.by_outcome.get(outcome, 0) / self.calls if self.calls else 0.0

    @property
    def error_rate(self) -> float:
        return self.rate(LenderCall.Outcome.TECHNICAL_FAILURE) + self.rate(LenderCall.Outcome.PERMANENT_FAILURE)


def percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil
    return sorted_values[int(rank) - 1]


def lender_call_stats(*, since: datetime, lender_ids: list[int] | None = None) -> list[LenderCallStats]:
    """Per lender since `since`: outbound calls, p50/p95 latency (against the 5 s target) and
    counts by outcome. One query; percentiles in Python, so SQLite and PostgreSQL agree."""
    lenders = Lender.objects.order_by("name")
    if lender_ids is not None:
        lenders = lenders.filter(pk__in=lender_ids)
    stats = {lender.pk: LenderCallStats(lender=lender) for lender in lenders}
    durations: dict[int, list[int]] = {pk: [] for pk in stats}
    rows = (
        LenderCall.objects.filter(started_at__gte=since, capability__in=OUTBOUND_CAPABILITIES, lender_id__in=list(stats))
        .exclude(outcome=LenderCall.Outcome.IN_FLIGHT)
        .values_list("lender_id", "outcome", "duration_ms")
    )
    for lender_id, outcome, duration_ms in rows:
        entry = stats[lender_id]
        entry.calls += 1
        entry.by_outcome[outcome] = entry.by_outcome.get(outcome, 0) + 1
        if duration_ms is not None:
            durations[lender_id].append(duration_ms)
    for lender_id, values in durations.items():
        values.sort()
        stats[lender_id].p50_ms = percentile(values, 0.50)
        stats[lender_id].p95_ms = percentile(values, 0.95)
    return list(stats.values())
