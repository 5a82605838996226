"""Whether a campaign can deliver, and if not, the first rule that stops it.

One list of rules serves three readers: the catalog (which filters by the same rules in SQL,
`campaigns_deliverable_for_origin`), the delivery check run under the campaign's row lock before
a lead is routed (`campaign_delivery_failure`), and staff's "why not shown" explainer. The rules
are checked in the order of CAMPAIGN_RULES and then LEAD_RULES; the first that fails is the
answer.

A campaign's state (draft, scheduled, active, paused, exhausted, ended) is derived from its
switches, its schedule and its running totals, so time and spend move it without anyone acting.

Delivery conditions need the consumer's data: a condition on data the journey has not collected
fails (the lender pays for leads known to meet its conditions). The product's amount and term
ranges are the exception: they only bound what a consumer asks for, so they apply when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, DecimalField, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Now, TruncDate
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignOrigin, CampaignState, LedgerEntry
from apps.lenders.models import CircuitState
from apps.products.models import DOCUMENT_TYPES, REGIONS, Product


def marketplace_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def marketplace_day(moment: datetime | None = None) -> date:
    """The marketplace's calendar day (America/Bogota by default): daily caps reset at its midnight."""
    return timezone.localtime(moment or timezone.now(), marketplace_zone()).date()


# --- State -----------------------------------------------------------------------------------------


def campaign_budget_left(campaign: Campaign) -> Decimal | None:
    """None when the campaign has no budget limit."""
    return None if campaign.budget is None else campaign.budget - campaign.spent


def campaign_budget_exhausted(campaign: Campaign) -> bool:
    """Nothing left, or less than one more lead's price."""
    left = campaign_budget_left(campaign)
    return left is not None and (left <= 0 or left < campaign.price_per_lead)


def campaign_total_cap_reached(campaign: Campaign) -> bool:
    return campaign.total_lead_cap is not None and campaign.leads_delivered >= campaign.total_lead_cap


def campaign_state(campaign: Campaign, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if campaign.is_draft:
        return CampaignState.DRAFT
    if campaign.ends_at is not None and campaign.ends_at <= now:
        return CampaignState.ENDED
    if not campaign.is_active:
        return CampaignState.PAUSED
    if campaign.starts_at > now:
        return CampaignState.SCHEDULED
    if campaign_total_cap_reached(campaign) or campaign_budget_exhausted(campaign):
        return CampaignState.EXHAUSTED
    return CampaignState.ACTIVE


def _state_conditions(now: datetime) -> dict[str, Q]:
    """Each state's own condition, before precedence (see campaign_state_q)."""
    budget_gone = Q(budget__isnull=False) & (
        Q(spent__gte=F("budget")) | Q(spent__gt=F("budget") - F("price_per_lead"))
    )
    cap_reached = Q(total_lead_cap__isnull=False) & Q(leads_delivered__gte=F("total_lead_cap"))
    return {
        CampaignState.DRAFT: Q(is_draft=True),
        CampaignState.ENDED: Q(ends_at__isnull=False, ends_at__lte=now),
        CampaignState.PAUSED: Q(is_active=False),
        CampaignState.SCHEDULED: Q(starts_at__gt=now),
        CampaignState.EXHAUSTED: budget_gone | cap_reached,
    }


def campaign_state_q(state: str, now: datetime | None = None) -> Q:
    """The rows of campaign_state() == state, as a filter (admin lists filter by it)."""
    conditions = _state_conditions(now or timezone.now())
    order = [CampaignState.DRAFT, CampaignState.ENDED, CampaignState.PAUSED, CampaignState.SCHEDULED,
             CampaignState.EXHAUSTED]
    query = Q()
    for earlier in order:
        if earlier == state:
            return query & conditions[earlier]
        query &= ~conditions[earlier]
    return query  # active: none of the others


def _under_daily_cap_q(prefix: str, today) -> Q:
    """Under a daily cap: no cap, nothing counted yet today, or fewer leads than the cap. (No
    negation: on the origin's link it would become a subquery per row.)"""
    return (
        Q(**{f"{prefix}daily_lead_cap__isnull": True}) | Q(**{f"{prefix}counted_day__isnull": True})
        | Q(**{f"{prefix}counted_day__lt": today})
        | Q(**{f"{prefix}counted_day_leads__lt": F(f"{prefix}daily_lead_cap")})
    )


def campaign_deliverable_q(*, origin, now: datetime | None = None) -> Q:
    """Every rule of CAMPAIGN_RULES for one origin, as one condition on Campaign's plain columns
    and those of its link to the origin (no subquery). Use it in a single .filter() call, so the
    link is joined once.

    Without `now`, time is the database's own clock (Now(), and the marketplace day derived from
    it), so the condition is the same for every call and a query built on it can be kept.
    """
    moment = now if now is not None else Now()
    today = marketplace_day(now) if now is not None else TruncDate(Now(), tzinfo=marketplace_zone())
    link = "campaign_origins__"
    origin_id = getattr(origin, "pk", origin)
    return (
        Q(is_draft=False, is_active=True, starts_at__lte=moment)
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=moment))
        & Q(lender__is_active=True, product__state=Product.State.LIVE)
        & ~Q(lender__circuit_state=CircuitState.OPEN)
        & (Q(total_lead_cap__isnull=True) | Q(leads_delivered__lt=F("total_lead_cap")))
        & (Q(budget__isnull=True) | (Q(spent__lt=F("budget")) & Q(spent__lte=F("budget") - F("price_per_lead"))))
        & _under_daily_cap_q("", today)
        & Q(**{f"{link}origin_id": origin_id})
        & (Q(**{f"{link}total_lead_cap__isnull": True})
           | Q(**{f"{link}leads_delivered__lt": F(f"{link}total_lead_cap")}))
        & _under_daily_cap_q(link, today)
    )


def campaigns_deliverable_for_origin(*, origin, now: datetime | None = None) -> QuerySet:
    """The campaigns that can take a lead from this origin now (the SQL twin of CAMPAIGN_RULES)."""
    return Campaign.objects.filter(campaign_deliverable_q(origin=origin, now=now))


def leads_counted_on(row: Campaign | CampaignOrigin, today: date) -> int:
    """A running daily count, read for `today`: a count of an earlier day is today's zero."""
    return row.counted_day_leads if row.counted_day == today else 0


# --- The rules, one by one ------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignContext:
    """What the rules read about one campaign for one origin at one moment."""

    campaign: Campaign
    origin: object
    now: datetime
    today: date
    origin_link: CampaignOrigin | None


def campaign_context(*, campaign: Campaign, origin, now: datetime | None = None) -> CampaignContext:
    """One query: the origin's link (its caps and counts). Under the campaign's row lock the
    counts are exact, since every write to them takes that lock first."""
    now = now or timezone.now()
    link = CampaignOrigin.objects.filter(campaign=campaign, origin=origin).first()
    return CampaignContext(campaign=campaign, origin=origin, now=now, today=marketplace_day(now), origin_link=link)


def _origin_targeted(c: CampaignContext) -> str | None:
    return None if c.origin_link is not None else f"The campaign is not shown to {c.origin}."


def _not_draft(c: CampaignContext) -> str | None:
    return "The campaign is a draft." if c.campaign.is_draft else None


def _not_ended(c: CampaignContext) -> str | None:
    ends_at = c.campaign.ends_at
    if ends_at is not None and ends_at <= c.now:
        return f"The campaign ended at {timezone.localtime(ends_at, marketplace_zone()):%Y-%m-%d %H:%M}."
    return None


def _not_paused(c: CampaignContext) -> str | None:
    return None if c.campaign.is_active else "The campaign is paused."


def _started(c: CampaignContext) -> str | None:
    starts_at = c.campaign.starts_at
    if starts_at > c.now:
        return f"The campaign starts at {timezone.localtime(starts_at, marketplace_zone()):%Y-%m-%d %H:%M}."
    return None


def _lender_active(c: CampaignContext) -> str | None:
    return None if c.campaign.lender.is_active else f"The lender {c.campaign.lender.name} is switched off."


def _lender_reachable(c: CampaignContext) -> str | None:
    if c.campaign.lender.circuit_state == CircuitState.OPEN:
        return f"The lender {c.campaign.lender.name}'s circuit is open: its API is failing."
    return None


def _product_live(c: CampaignContext) -> str | None:
    product = c.campaign.product
    if product.state != Product.State.LIVE:
        return f"The product {product.product_id} is {product.get_state_display().lower()}, not live."
    return None


def _under_total_cap(c: CampaignContext) -> str | None:
    if campaign_total_cap_reached(c.campaign):
        return f"The campaign's total cap of {c.campaign.total_lead_cap} leads is reached."
    return None


def _budget_left(c: CampaignContext) -> str | None:
    if campaign_budget_exhausted(c.campaign):
        left = campaign_budget_left(c.campaign)
        return f"The budget is spent: {left} {c.campaign.currency} left, a lead costs {c.campaign.price_per_lead}."
    return None


def _under_daily_cap(c: CampaignContext) -> str | None:
    cap = c.campaign.daily_lead_cap
    if cap is not None and leads_counted_on(c.campaign, c.today) >= cap:
        return f"The campaign's daily cap of {cap} leads is reached for today."
    return None


def _under_origin_total_cap(c: CampaignContext) -> str | None:
    link = c.origin_link
    if link is not None and link.total_lead_cap is not None and link.leads_delivered >= link.total_lead_cap:
        return f"The cap of {link.total_lead_cap} leads from {c.origin} is reached."
    return None


def _under_origin_daily_cap(c: CampaignContext) -> str | None:
    link = c.origin_link
    if link is not None and link.daily_lead_cap is not None and leads_counted_on(link, c.today) >= link.daily_lead_cap:
        return f"The daily cap of {link.daily_lead_cap} leads from {c.origin} is reached for today."
    return None


CampaignRule = Callable[[CampaignContext], "str | None"]

# In the order staff read them: first the ones staff set, then the ones time and spend move.
CAMPAIGN_RULES: list[tuple[str, CampaignRule]] = [
    ("origin_not_targeted", _origin_targeted),
    ("draft", _not_draft),
    ("ended", _not_ended),
    ("paused", _not_paused),
    ("scheduled", _started),
    ("lender_inactive", _lender_active),
    ("lender_circuit_open", _lender_reachable),
    ("product_not_live", _product_live),
    ("total_cap", _under_total_cap),
    ("budget", _budget_left),
    ("daily_cap", _under_daily_cap),
    ("origin_total_cap", _under_origin_total_cap),
    ("origin_daily_cap", _under_origin_daily_cap),
]


# --- Delivery conditions: the consumer's data against the product and the campaign --------------


@dataclass(frozen=True)
class LeadFacts:
    """The consumer's data the conditions read; None (or "") when the journey did not ask."""

    monthly_income: int | None = None
    requested_amount: Decimal | None = None
    requested_term_months: int | None = None
    document_type: str = ""
    age: int | None = None
    region: str = ""


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def lead_facts(lead, today: date | None = None) -> LeadFacts:
    today = today or marketplace_day()
    try:
        age = age_on(date.fromisoformat(lead.birth_date), today) if lead.birth_date else None
    except (TypeError, ValueError):
        age = None  # unreadable: treated as not given
    amount = lead.requested_amount
    return LeadFacts(
        monthly_income=lead.monthly_income, requested_amount=Decimal(amount) if amount is not None else None,
        requested_term_months=lead.requested_term_months, document_type=lead.document_type or "", age=age,
        region=lead.region or "",
    )


def _income(campaign: Campaign, facts: LeadFacts) -> str | None:
    minimum = max(campaign.product.min_monthly_income or 0, campaign.min_monthly_income or 0)
    if not minimum:
        return None
    if facts.monthly_income is None:
        return "The monthly income was not given."
    if facts.monthly_income < minimum:
        return f"A monthly income of at least {minimum} is required."
    return None


def _requested_amount(campaign: Campaign, facts: LeadFacts) -> str | None:
    product, amount = campaign.product, facts.requested_amount
    if amount is not None and not product.min_amount <= amount <= product.max_amount:
        return f"The product lends from {product.min_amount} to {product.max_amount}."
    low, high = campaign.min_requested_amount, campaign.max_requested_amount
    if low is None and high is None:
        return None
    if amount is None:
        return "The requested amount was not given."
    if (low is not None and amount < low) or (high is not None and amount > high):
        return f"The campaign takes requests from {low or product.min_amount} to {high or product.max_amount}."
    return None


def _requested_term(campaign: Campaign, facts: LeadFacts) -> str | None:
    product, term = campaign.product, facts.requested_term_months
    if term is not None and not product.min_term_months <= term <= product.max_term_months:
        return f"The product lends over {product.min_term_months} to {product.max_term_months} months."
    return None


def _document_type(campaign: Campaign, facts: LeadFacts) -> str | None:
    for allowed in (campaign.product.document_types, campaign.document_types):
        if allowed and facts.document_type not in allowed:
            names = ", ".join(DOCUMENT_TYPES.get(code, code) for code in allowed)
            return f"Only these documents are accepted: {names}."
    return None


def _age(campaign: Campaign, facts: LeadFacts) -> str | None:
    bounds = [campaign.product.min_age, campaign.min_age], [campaign.product.max_age, campaign.max_age]
    low = max((v for v in bounds[0] if v is not None), default=None)
    high = min((v for v in bounds[1] if v is not None), default=None)
    if low is None and high is None:
        return None
    if facts.age is None:
        return "The date of birth was not given."
    if (low is not None and facts.age < low) or (high is not None and facts.age > high):
        return f"Ages {low or '—'} to {high or '—'} only."
    return None


def _region(campaign: Campaign, facts: LeadFacts) -> str | None:
    for allowed in (campaign.product.regions, campaign.regions):
        if allowed and facts.region not in allowed:
            if not facts.region:
                return "The region was not given."
            return "Only these regions: " + ", ".join(REGIONS.get(code, code) for code in allowed) + "."
    return None


def campaign_required_fields(campaign: Campaign) -> tuple[str, ...]:
    """The Lead fields beyond identity and income that this campaign's delivery conditions (its
    own and its product's) read: the flow must ask for them, since data not given fails them."""
    product, fields = campaign.product, []
    if any(v is not None for v in (product.min_age, product.max_age, campaign.min_age, campaign.max_age)):
        fields.append("birth_date")
    if product.regions or campaign.regions:
        fields.append("region")
    if campaign.min_requested_amount is not None or campaign.max_requested_amount is not None:
        fields.append("requested_amount")
    return tuple(fields)


LeadRule = Callable[[Campaign, LeadFacts], "str | None"]

LEAD_RULES: list[tuple[str, LeadRule]] = [
    ("income", _income),
    ("requested_amount", _requested_amount),
    ("requested_term", _requested_term),
    ("document_type", _document_type),
    ("age", _age),
    ("region", _region),
]


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    message: str


def campaign_rule_failure(context: CampaignContext) -> RuleFailure | None:
    """The first campaign rule that stops it taking a lead now, or None."""
    for name, rule in CAMPAIGN_RULES:
        message = rule(context)
        if message:
            return RuleFailure(name, message)
    return None


def lead_rule_failure(campaign: Campaign, facts: LeadFacts) -> RuleFailure | None:
    """The first delivery condition this consumer's data does not meet, or None."""
    for name, rule in LEAD_RULES:
        message = rule(campaign, facts)
        if message:
            return RuleFailure(name, message)
    return None


def campaign_delivery_failure(context: CampaignContext, facts: LeadFacts) -> RuleFailure | None:
    return campaign_rule_failure(context) or lead_rule_failure(context.campaign, facts)


# --- Totals derived from the ledger --------------------------------------------------------------


@dataclass(frozen=True)
class LedgerTotals:
    spent: Decimal
    leads: int
    leads_today: int
    budget_left: Decimal | None


def campaign_ledger_totals(campaign: Campaign, *, today: date | None = None) -> LedgerTotals:
    """Spend, leads and leads today computed from the ledger itself (what admin shows)."""
    today = today or marketplace_day()
    lead = Q(kind=LedgerEntry.Kind.LEAD)
    totals = LedgerEntry.objects.filter(campaign=campaign).aggregate(
        spent=Coalesce(Sum("amount"), Value(Decimal(0)), output_field=DecimalField()),
        leads=Count("id", filter=lead),
        leads_today=Count("id", filter=lead & Q(day=today)),
    )
    left = None if campaign.budget is None else campaign.budget - totals["spent"]
    return LedgerTotals(
        spent=totals["spent"], leads=totals["leads"], leads_today=totals["leads_today"], budget_left=left
    )


def campaigns_with_ledger_totals(queryset: QuerySet, *, today: date | None = None) -> QuerySet:
    """The same totals as annotations, for admin lists: correlated subqueries, so the list's own
    filters (an origin, say) cannot multiply the sums."""
    today = today or marketplace_day()
    ledger = LedgerEntry.objects.filter(campaign=OuterRef("pk")).values("campaign")
    spent = ledger.annotate(total=Sum("amount")).values("total")
    leads_today = ledger.filter(kind=LedgerEntry.Kind.LEAD, day=today).annotate(total=Count("id")).values("total")
    return queryset.annotate(
        ledger_spent=Coalesce(
            Subquery(spent, output_field=DecimalField()), Value(Decimal(0)), output_field=DecimalField()
        ),
        ledger_leads_today=Coalesce(Subquery(leads_today, output_field=IntegerField()), Value(0)),
    )


def campaign_budget_alert(campaign: Campaign) -> bool:
    """Spent at least budget_alert_percent of the budget."""
    if not campaign.budget:
        return False
    return campaign.spent * 100 >= campaign.budget * campaign.budget_alert_percent
