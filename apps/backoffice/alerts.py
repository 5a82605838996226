"""The marketplace's alerts: each rule a few aggregate queries (a count per lender or campaign,
never rows loaded into Python), evaluated by a periodic task (apps/backoffice/tasks.py).

An alert opens when its rule finds a subject (a lender, a campaign), is refreshed while the
condition holds (one unresolved alert per rule and subject: a partial unique constraint), and is
resolved by the evaluation when the condition clears, or by staff with a resolution. Each new
alert is emailed to the active members of the role (group) that owns it. No personal data: a
count, a lender's or a campaign's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.models import Alert
from apps.campaigns.models import Campaign
from apps.leads.models import Decision, Lead, LeadStatus
from apps.lenders.models import CircuitState, Lender, LenderCall
from apps.postbacks.models import PostbackEvent


@dataclass(frozen=True)
class Condition:
    subject: str
    message: str
    count: int
    lender_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    group: str  # the role that owns it (prosperas/roles.py)
    conditions: Callable[[datetime], list[Condition]]


def _per_lender(rows, text: str) -> list[Condition]:
    return [Condition(subject=f"lender:{row['lender_id']}", lender_id=row["lender_id"], count=row["n"],
                      message=text.format(n=row["n"], lender=row["lender__name"])) for row in rows]


def approved_not_disbursed(now: datetime) -> list[Condition]:
    """Approved by the lender and never reported disbursed after N days (per lender, by code)."""
    overrides = settings.ALERT_APPROVED_NOT_DISBURSED_DAYS_BY_LENDER
    default_cutoff = now - timedelta(days=settings.ALERT_APPROVED_NOT_DISBURSED_DAYS)
    late = Q(lender_status_at__lt=default_cutoff) & ~Q(lender__code__in=list(overrides))
    for code, days in overrides.items():
        late |= Q(lender__code=code, lender_status_at__lt=now - timedelta(days=days))
    rows = (Lead.objects.filter(late, status=LeadStatus.APPROVED).values("lender_id", "lender__name")
            .annotate(n=Count("pk")).order_by())
    return _per_lender(rows, "{n} lead(s) approved by {lender} and never reported disbursed")


def pending_decisions(now: datetime) -> list[Condition]:
    cutoff = now - timedelta(hours=settings.ALERT_PENDING_DECISION_HOURS)
    rows = (Decision.objects.filter(outcome=Decision.Outcome.PENDING, created_at__lt=cutoff)
            .exclude(lead__status=LeadStatus.CANCELLED)
            .values("lender_id", "lender__name").annotate(n=Count("pk")).order_by())
    return _per_lender(rows, f"{{n}} decision(s) of {{lender}} pending for more than "
                             f"{settings.ALERT_PENDING_DECISION_HOURS} h")


def handed_off_without_postback(now: datetime) -> list[Condition]:
    days = settings.ALERT_HANDOFF_NO_POSTBACK_DAYS
    rows = (Lead.objects.filter(status=LeadStatus.HANDED_OFF, handed_off_at__lt=now - timedelta(days=days))
            .values("lender_id", "lender__name").annotate(n=Count("pk")).order_by())
    return _per_lender(rows, f"{{n}} lead(s) handed off to {{lender}} with no postback after {days} day(s)")


def _calls_since(cutoff: datetime, **filters) -> Subquery:
    calls = (LenderCall.objects.filter(lender=OuterRef("pk"), started_at__gte=cutoff, **filters)
             .exclude(outcome=LenderCall.Outcome.IN_FLIGHT).order_by().values("lender").annotate(n=Count("pk"))
             .values("n"))
    return Coalesce(Subquery(calls, output_field=IntegerField()), 0)


def lender_failing(now: datetime) -> list[Condition]:
    """A share of technical failures among the lender's calls of the last window (one subquery per
    lender, each served by the (lender, started_at) index)."""
    cutoff = now - timedelta(minutes=settings.ALERT_LENDER_WINDOW_MINUTES)
    lenders = (Lender.objects.filter(is_active=True)
               .annotate(total=_calls_since(cutoff),
                         failed=_calls_since(cutoff, outcome=LenderCall.Outcome.TECHNICAL_FAILURE))
               .filter(total__gte=settings.ALERT_LENDER_MIN_CALLS,
                       failed__gte=F("total") * settings.ALERT_LENDER_FAILURE_PERCENT / 100.0)
               .values("pk", "name", "total", "failed"))
    minutes = settings.ALERT_LENDER_WINDOW_MINUTES
    return [Condition(subject=f"lender:{row['pk']}", lender_id=row["pk"], count=row["failed"],
                      message=f"{row['name']} failed {row['failed']} of {row['total']} calls in the last {minutes} min")
            for row in lenders]


def lender_silent(now: datetime) -> list[Condition]:
    """Leads handed off to the lender in the last hours, and not one postback from it."""
    hours = settings.ALERT_LENDER_SILENT_HOURS
    cutoff = now - timedelta(hours=hours)
    handed = (Lead.objects.filter(lender=OuterRef("pk"), handed_off_at__gte=cutoff).order_by().values("lender")
              .annotate(n=Count("pk")).values("n"))
    postbacks = PostbackEvent.objects.filter(lender=OuterRef("pk"), received_at__gte=cutoff)
    lenders = (Lender.objects.filter(is_active=True)
               .annotate(handed=Coalesce(Subquery(handed, output_field=IntegerField()), 0))
               .filter(handed__gte=settings.ALERT_LENDER_SILENT_MIN_HANDOFFS).filter(~Exists(postbacks))
               .values("pk", "name", "handed"))
    return [Condition(subject=f"lender:{row['pk']}", lender_id=row["pk"], count=row["handed"],
                      message=f"{row['name']}: {row['handed']} lead(s) handed off and no postback in {hours} h")
            for row in lenders]


def circuit_open(now: datetime) -> list[Condition]:
    lenders = Lender.objects.filter(circuit_state=CircuitState.OPEN).values("pk", "name", "circuit_note")
    return [Condition(subject=f"lender:{row['pk']}", lender_id=row["pk"], count=1,
                      message=f"{row['name']}'s circuit is open: {row['circuit_note'] or 'no note'}"[:400])
            for row in lenders]


def campaign_near_budget(now: datetime) -> list[Condition]:
    """Spent at least the campaign's own alert share (budget_alert_percent) of its budget."""
    campaigns = (Campaign.objects.filter(is_active=True, is_draft=False, budget__gt=0)
                 .filter(spent__gte=F("budget") * F("budget_alert_percent") / 100)
                 .values("pk", "name", "lender_id", "spent", "budget"))
    return [Condition(subject=f"campaign:{row['pk']}", campaign_id=row["pk"], lender_id=row["lender_id"],
                      count=int(row["spent"] * 100 / row["budget"]),
                      message=f"Campaign {row['name']} has spent {row['spent']} of its {row['budget']} budget")
            for row in campaigns]


RULES = {rule.name: rule for rule in [
    Rule("approved_not_disbursed", "support", approved_not_disbursed),
    Rule("pending_decisions", "support", pending_decisions),
    Rule("handed_off_without_postback", "integrations", handed_off_without_postback),
    Rule("lender_failing", "integrations", lender_failing),
    Rule("lender_silent", "integrations", lender_silent),
    Rule("circuit_open", "integrations", circuit_open),
    Rule("campaign_near_budget", "marketplace", campaign_near_budget),
]}
RULE_CHOICES = [(name, name.replace("_", " ").capitalize()) for name in RULES]
CLEARED = "The condition cleared."


def alerts_evaluate(now: datetime | None = None) -> dict[str, int]:
    """Open, refresh and clear every rule's alerts; email the new ones. Returns the open count per rule."""
    now = now or timezone.now()
    groups = {group.name: group for group in Group.objects.filter(name__in={rule.group for rule in RULES.values()})}
    found_per_rule = {}
    for rule in RULES.values():
        found = {condition.subject: condition for condition in rule.conditions(now)}
        alert_rule_apply(rule, found, group=groups[rule.group], now=now)
        found_per_rule[rule.name] = len(found)
    alerts_notify()
    return found_per_rule


def alert_rule_apply(rule: Rule, found: dict[str, Condition], *, group: Group, now: datetime) -> None:
    unresolved = Alert.objects.filter(rule=rule.name).exclude(state=Alert.State.RESOLVED)
    unresolved.exclude(subject__in=list(found)).update(state=Alert.State.RESOLVED, resolved_at=now, resolution=CLEARED)
    existing = {alert.subject: alert for alert in unresolved.filter(subject__in=list(found))}
    for subject, alert in existing.items():
        alert.count, alert.message, alert.last_seen_at = found[subject].count, found[subject].message, now
    Alert.objects.bulk_update(list(existing.values()), ["count", "message", "last_seen_at"])
    Alert.objects.bulk_create([
        Alert(rule=rule.name, subject=subject, group=group, message=condition.message, count=condition.count,
              lender_id=condition.lender_id, campaign_id=condition.campaign_id, last_seen_at=now)
        for subject, condition in found.items() if subject not in existing
    ], ignore_conflicts=True)  # another evaluation opened it first: the partial unique constraint


def alerts_notify() -> int:
    """Email each new alert to its role's active members, once: claimed by a conditional UPDATE
    before sending, given back if the mail server refuses (the next evaluation tries again)."""
    sent = 0
    new = Alert.objects.filter(notified_at__isnull=True).exclude(state=Alert.State.RESOLVED).select_related("group")
    for alert in new:
        if not Alert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(notified_at=timezone.now()):
            continue
        recipients = list(alert.group.user_set.filter(is_active=True).exclude(email="").values_list("email", flat=True))
        if not recipients:
            continue
        link = settings.SITE_URL + reverse("admin:backoffice_alert_change", args=[alert.pk])
        try:
            send_mail(f"[Prosperas alert] {alert.message}"[:200],
                      f"{alert.message}\n\nRule: {alert.rule}\nOwned by: {alert.group.name}\n\n{link}\n",
                      None, recipients)
        except Exception:
            Alert.objects.filter(pk=alert.pk).update(notified_at=None)
            raise
        sent += 1
    return sent


def alert_acknowledge(*, alert_id: int, staff) -> bool:
    """Acknowledged by `staff`, who becomes its owner if it had none; in the audit log."""
    alert = Alert.objects.filter(pk=alert_id, state=Alert.State.OPEN).first()
    if alert is None or not Alert.objects.filter(pk=alert_id, state=Alert.State.OPEN).update(
            state=Alert.State.ACKNOWLEDGED, acknowledged_at=timezone.now(), acknowledged_by=staff,
            owner=alert.owner or staff):
        return False
    _audit(alert, staff, {"state": [Alert.State.OPEN, Alert.State.ACKNOWLEDGED]})
    return True


def alert_resolve(*, alert_id: int, staff, resolution: str) -> bool:
    resolution = " ".join(resolution.split())[:400]
    if not resolution:
        raise ValueError("Say how it was resolved.")
    alert = Alert.objects.filter(pk=alert_id).exclude(state=Alert.State.RESOLVED).first()
    if alert is None or not Alert.objects.filter(pk=alert_id).exclude(state=Alert.State.RESOLVED).update(
            state=Alert.State.RESOLVED, resolved_at=timezone.now(), resolved_by=staff, resolution=resolution):
        return False
    _audit(alert, staff, {"state": [alert.state, Alert.State.RESOLVED], "resolution": [alert.resolution, resolution]})
    return True


def _audit(alert: Alert, staff, changes: dict) -> None:
    LogEntry.objects.log_create(alert, force_log=True, action=LogEntry.Action.UPDATE, actor=staff, changes=changes)
