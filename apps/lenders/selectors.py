"""Reads about lenders and their calls: attempt counts, the circuit breaker's window, call
statistics, the journey data each lender's adapter needs, and rejection categories with their
consumer-safe sentences. Nothing here reads a journey (apps/leads/selectors.py does)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Aggregate, Count, IntegerField, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from apps.lenders.call_spans import OUTBOUND_CAPABILITIES, lender_call_spans_mark, window_tally
from apps.lenders.latency import TARGET_MS, histogram_percentile

from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import JOURNEY_FIELDS, AdapterConfigurationError, RejectionCategory
from apps.lenders.models import Lender, LenderCall


def lender_calls_for(*, lead_id: int, lender_id: int, capability: str) -> QuerySet[LenderCall]:
    return LenderCall.objects.filter(lead_id=lead_id, lender_id=lender_id, capability=capability)


def lender_call_attempt_count(*, lead_id: int, lender_id: int, capability: str) -> int:
    """Every attempt ever made for this lead, lender and capability (numbers the next one)."""
    return lender_calls_for(lead_id=lead_id, lender_id=lender_id, capability=capability).count()


def lender_recent_outcomes(*, lender_id: int, limit: int, since: datetime) -> list[str]:
    """Outcomes of the lender's most recent finished outbound calls (the circuit breaker's window)."""
    return list(
        LenderCall.objects.filter(lender_id=lender_id, started_at__gte=since, capability__in=OUTBOUND_CAPABILITIES)
        .exclude(outcome=LenderCall.Outcome.IN_FLIGHT)
        .order_by("-started_at")
        .values_list("outcome", flat=True)[:limit]
    )



# --- what an adapter needs from the flow ----------------------------------------------------


def lender_required_fields(lender: Lender, *, capability: str = "prequalify") -> tuple[str, ...]:
    """JOURNEY_FIELDS this lender's adapter needs before `prequalify` (or `submit`) and staff
    released to it: the flow asks the consumer for them. For submit, the prequalify fields are
    included, and so is every field the lender is sent: a configurable style's lender (the mapped
    one) also receives what its templates name, so its application needs those too."""
    try:
        cls = adapter_class(lender.adapter)
    except AdapterConfigurationError:
        return ()
    names = list(cls.prequalify_fields)
    if capability == "submit":
        sent = (*cls.submit_fields, *cls.declared_fields(lender.adapter_options()))
        names += [name for name in dict.fromkeys(sent) if name not in names]
    # What is not released to this lender is not asked for either (apps/lenders/release.py).
    approved = set(lender.released_fields or ())
    return tuple(name for name in names if name in approved)


def journey_fields_for(lenders: list[Lender], *, capability: str = "prequalify") -> dict[str, str]:
    """The union of what these lenders need (compare mode asks once for all), with labels."""
    names: list[str] = []
    for lender in lenders:
        names += [name for name in lender_required_fields(lender, capability=capability) if name not in names]
    return {name: str(JOURNEY_FIELDS[name]) for name in names if name in JOURNEY_FIELDS}


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


def rejection_sentence(category: str) -> str:
    """The sentence the consumer reads for a rejection of this category, in the active language."""
    try:
        return str(REJECTION_SENTENCES[RejectionCategory(category)])
    except ValueError:
        return str(REJECTION_SENTENCES[RejectionCategory.OTHER])


# --- staff statistics -----------------------------------------------------------------------

LATENCY_TARGET_MS = TARGET_MS  # seed 001: p95 under 5 seconds per call


@dataclass
class LenderCallStats:
    lender: Lender
    calls: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    by_outcome: dict[str, int] = field(default_factory=dict)
    # The percentiles were read off latency buckets (apps/lenders/latency.py): within about 2 %;
    # "within the target" is exact either way.
    approximate: bool = False

    @property
    def meets_target(self) -> bool | None:
        return None if self.p95_ms is None else self.p95_ms <= LATENCY_TARGET_MS

    def rate(self, outcome: str) -> float:
        return self.by_outcome.get(outcome, 0) / self.calls if self.calls else 0.0

    @property
    def error_rate(self) -> float:
        return self.rate(LenderCall.Outcome.TECHNICAL_FAILURE) + self.rate(LenderCall.Outcome.PERMANENT_FAILURE)


class PercentileDisc(Aggregate):
    """PostgreSQL's percentile_disc: the nearest-rank percentile (as `percentile` below), NULLs
    left out."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = IntegerField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil
    return sorted_values[int(rank) - 1]


# A window at least this long is read from the rollup (apps/lenders/call_spans.py), once it has run.
SPANS_FROM = timedelta(hours=6)


def lender_call_stats(*, since: datetime, lender_ids: list[int] | None = None) -> list[LenderCallStats]:
    """Per lender since `since`: outbound calls, p50/p95 latency (against the 5 s target) and
    counts by outcome.

    A window of SPANS_FROM or more is read from the hourly and daily spans of the rollup, and
    only its first part hour and the last hour or so (since the rollup's mark) from the calls:
    a week costs about what a day does, whatever the traffic; its percentiles are the latency
    buckets' (`approximate`). A shorter window, or any before the rollup's first run, is counted
    and ranked exactly by PostgreSQL in one pass over the window's calls."""
    lenders = Lender.objects.order_by("name")
    if lender_ids is not None:
        lenders = lenders.filter(pk__in=lender_ids)
    stats = {lender.pk: LenderCallStats(lender=lender) for lender in lenders}
    through = lender_call_spans_mark()
    if through is not None and through - since >= SPANS_FROM:
        for lender_id, tally in window_tally(since=since, through=through, lender_ids=list(stats)).items():
            entry = stats[lender_id]
            entry.by_outcome = {outcome: count for outcome, count in tally.outcomes.items() if count}
            entry.calls = sum(entry.by_outcome.values())
            entry.p50_ms = histogram_percentile(tally.latency, 0.50)
            entry.p95_ms = histogram_percentile(tally.latency, 0.95)
            entry.approximate = entry.p95_ms is not None
        return list(stats.values())
    calls = (
        LenderCall.objects.filter(started_at__gte=since, capability__in=OUTBOUND_CAPABILITIES, lender_id__in=list(stats))
        .exclude(outcome=LenderCall.Outcome.IN_FLIGHT)
        .order_by()
    )
    outcomes = [value for value in LenderCall.Outcome.values if value != LenderCall.Outcome.IN_FLIGHT]
    rows = calls.values("lender_id").annotate(
        p50=PercentileDisc("duration_ms", fraction=0.50), p95=PercentileDisc("duration_ms", fraction=0.95),
        **{f"outcome_{index}": Count("id", filter=Q(outcome=value)) for index, value in enumerate(outcomes)},
    )
    for row in rows:
        entry = stats[row["lender_id"]]
        entry.p50_ms, entry.p95_ms = row["p50"], row["p95"]
        entry.by_outcome = {value: row[f"outcome_{index}"] for index, value in enumerate(outcomes)
                            if row[f"outcome_{index}"]}
        entry.calls = sum(entry.by_outcome.values())
    return list(stats.values())


def lender_circuit_states() -> list[tuple[str, str]]:
    """(code, circuit state) of every active lender: one small query (the metrics' scrape)."""
    return list(Lender.objects.filter(is_active=True).order_by("code").values_list("code", "circuit_state"))
