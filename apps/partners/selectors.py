"""What the lender portal shows, always scoped to the lender rows the user is a member of: every
query here starts from `partner_lenders(user)`, and an object outside it is a 404 in the views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from apps.conformance.selectors import certificate_valid_for
from apps.leads.models import Lead
from apps.lenders.models import Lender, LenderCall, LenderCredential, PostbackAuthFailure
from apps.lenders.selectors import LATENCY_TARGET_MS, OUTBOUND_CAPABILITIES, LenderCallStats, lender_call_stats
from apps.partners.models import PartnerMembership
from apps.postbacks.models import PostbackEvent
from apps.postbacks.selectors import MANGLINGS
from apps.products.models import Product, ProductRevision

PAGE_SIZE = 50
SLA_WINDOW = timedelta(days=30)


def partner_lenders(user) -> QuerySet[Lender]:
    """The lender rows (environments) `user` may see, staging first."""
    if not user.is_authenticated:
        return Lender.objects.none()
    ids = PartnerMembership.objects.filter(user=user).values("lender_id")
    return Lender.objects.filter(pk__in=ids).order_by("name", "-environment")


def partner_lender(user, lender_id: int) -> Lender | None:
    return partner_lenders(user).filter(pk=lender_id).first()


def partner_credentials(user) -> list[tuple[Lender, list[LenderCredential]]]:
    return [(lender, list(lender.postback_credentials.all()[:20])) for lender in partner_lenders(user)]


def partner_credential(user, credential_id: int) -> LenderCredential | None:
    return LenderCredential.objects.filter(pk=credential_id, lender__in=partner_lenders(user)).first()


# --- The postback debugger ----------------------------------------------------------------------


@dataclass(frozen=True)
class DebuggerRow:
    """One postback as the lender sees it: accepted (an event) or refused (a counted sample)."""

    at: datetime
    lender: Lender
    accepted: bool
    answer: str  # our HTTP answer
    reason: str
    click_id: str
    status: str
    hints: str
    body: str
    count: int = 1


def debugger_rows(user, *, click_id: str = "", lender_id: int | None = None) -> list[DebuggerRow]:
    """Every postback the user's lenders sent, newest first: accepted events (202, or 404 for an
    unknown click_id, with the look-alike hints) and refused requests (their counted samples).
    `click_id` searches both exactly, and refused samples by their masked body's text."""
    lenders = {lender.pk: lender for lender in partner_lenders(user)}
    if lender_id is not None:
        lenders = {pk: lender for pk, lender in lenders.items() if pk == lender_id}
    events = PostbackEvent.objects.filter(lender_id__in=list(lenders)).defer("raw_body", "headers", "metadata")
    refusals = PostbackAuthFailure.objects.filter(lender_id__in=list(lenders)).order_by("-last_seen_at")
    if click_id:
        events = events.filter(click_id=click_id)
        refusals = refusals.filter(samples__icontains=click_id)
    rows = [_event_row(event, lenders[event.lender_id]) for event in events[:PAGE_SIZE]]
    for refusal in refusals[:PAGE_SIZE]:
        rows.extend(_refusal_rows(refusal, lenders[refusal.lender_id], click_id))
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:PAGE_SIZE]


def _event_row(event: PostbackEvent, lender: Lender) -> DebuggerRow:
    matched = event.effect != PostbackEvent.Effect.UNMATCHED
    hints = ", ".join(MANGLINGS.get(name, name) for name in event.looks_like.split(",") if name)
    reason = event.get_effect_display() + (" (a repeat)" if event.is_repeat else "")
    return DebuggerRow(at=event.received_at, lender=lender, accepted=matched,
                       answer="202 accepted" if matched else "404 unknown_click_id", reason=reason,
                       click_id=event.click_id, status=event.status, hints=hints, body="")


def _refusal_rows(refusal: PostbackAuthFailure, lender: Lender, click_id: str) -> list[DebuggerRow]:
    answer = "401 " + refusal.reason
    samples = [sample for sample in refusal.samples if not click_id or click_id in sample.get("body", "")]
    if not samples:
        return [DebuggerRow(at=refusal.last_seen_at, lender=lender, accepted=False, answer=answer,
                            reason=refusal.reason, click_id="", status="", hints="", body="", count=refusal.count)]
    return [DebuggerRow(at=datetime.fromisoformat(sample["at"]), lender=lender, accepted=False, answer=answer,
                        reason=refusal.reason, click_id="", status="", hints="", body=sample.get("body", ""),
                        count=refusal.count) for sample in samples]


# --- Leads ----------------------------------------------------------------------------------------


def partner_leads(user) -> QuerySet[Lead]:
    """The journeys the user's lenders were called for (so they received them), newest first."""
    lead_ids = LenderCall.objects.filter(lender__in=partner_lenders(user)).values("lead_id")
    return Lead.objects.filter(pk__in=lead_ids).select_related("product", "lender").order_by("-created_at")


def partner_lead(user, tracking_id: str) -> Lead | None:
    return partner_leads(user).filter(tracking_id=tracking_id).first()


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "call" (ours, to them) or "postback" (theirs, to us)
    title: str
    outcome: str
    detail: str = ""
    request: str = ""
    response: str = ""


def lead_timeline(user, lead: Lead) -> list[TimelineEntry]:
    """Our calls to the user's lenders for this lead (bodies masked as stored, as in admin) and
    their postbacks for it, oldest first. Nothing another lender sent or received."""
    lenders = partner_lenders(user)
    calls = LenderCall.objects.filter(lead=lead, lender__in=lenders).order_by("started_at")
    events = PostbackEvent.objects.filter(lead=lead, lender__in=lenders).defer("raw_body").order_by("received_at")
    entries = [TimelineEntry(
        at=call.started_at, kind="call", title=f"{call.get_capability_display()} · attempt {call.attempt}",
        outcome=call.get_outcome_display(),
        detail=" · ".join(part for part in (f"HTTP {call.http_status}" if call.http_status else "",
                                            f"{call.duration_ms} ms" if call.duration_ms is not None else "",
                                            call.error[:300]) if part),
        request=call.request_body, response=call.response_body) for call in calls]
    entries += [TimelineEntry(at=event.received_at, kind="postback", title=f"Postback {event.status}",
                              outcome=event.get_effect_display(), detail=event.reason) for event in events]
    return sorted(entries, key=lambda entry: entry.at)


def lead_status_for(user, lead: Lead) -> str:
    """The lead's status only when the user's lender is the one it went with (compare mode asks
    several: another lender's outcome is not theirs to see)."""
    if lead.lender_id and partner_lenders(user).filter(pk=lead.lender_id).exists():
        return lead.get_status_display()
    return "with another lender"


# --- Products, SLA, onboarding --------------------------------------------------------------------


def partner_products(user) -> QuerySet[Product]:
    return Product.objects.filter(lender__in=partner_lenders(user)).select_related("lender").order_by("product_id")


def partner_product(user, product_id: str) -> Product | None:
    return partner_products(user).filter(product_id=product_id).first()


def pending_revision(product: Product) -> ProductRevision | None:
    return product.revisions.filter(state=ProductRevision.State.PENDING).order_by("-id").first()


@dataclass(frozen=True)
class Scoreboard:
    stats: LenderCallStats
    target_ms: int = LATENCY_TARGET_MS

    @property
    def failure_rate(self) -> float:
        return self.stats.error_rate

    @property
    def approval_rate(self) -> float | None:
        """Approved among the decisions given (approved, rejected)."""
        approved = self.stats.by_outcome.get(LenderCall.Outcome.APPROVED, 0)
        decided = approved + self.stats.by_outcome.get(LenderCall.Outcome.REJECTED, 0)
        return approved / decided if decided else None


def partner_scoreboards(user, *, now: datetime | None = None) -> list[Scoreboard]:
    since = (now or timezone.now()) - SLA_WINDOW
    ids = list(partner_lenders(user).values_list("pk", flat=True))
    return [Scoreboard(stats=stats) for stats in lender_call_stats(since=since, lender_ids=ids)]


@dataclass(frozen=True)
class ChecklistStep:
    title: str
    done: bool
    evidence: str
    link: str = ""  # a portal URL name
    link_label: str = ""


def onboarding_checklist(lender: Lender) -> list[ChecklistStep]:
    """The source documents' order: credentials → capability 1 (decision) → capability 2
    (submission) → postbacks → product data, then the conformance certificate that production's
    activation needs; each step done by what is really stored."""
    now = timezone.now()
    live = [c for c in lender.postback_credentials.filter(revoked_at__isnull=True)
            if c.expires_at is None or c.expires_at > now]
    answered = LenderCall.objects.filter(lender=lender, capability__in=OUTBOUND_CAPABILITIES)
    decisions = answered.filter(capability=LenderCall.Capability.PREQUALIFY, outcome__in=[
        LenderCall.Outcome.APPROVED, LenderCall.Outcome.REJECTED, LenderCall.Outcome.PENDING]).count()
    submissions = answered.filter(capability=LenderCall.Capability.SUBMIT,
                                  outcome=LenderCall.Outcome.SUBMITTED).count()
    accepted = PostbackEvent.objects.filter(lender=lender).exclude(effect=PostbackEvent.Effect.UNMATCHED).count()
    products = Product.objects.filter(lender=lender).count()
    staging = lender.environment == Lender.Environment.STAGING  # the console sends to staging only
    return [
        ChecklistStep("Postback credentials issued", bool(live),
                      f"{len(live)} live secret(s), key {lender.postback_key}" if live else "No live secret yet.",
                      "partners:credentials", "Manage credentials"),
        ChecklistStep("Capability 1: real-time decision", decisions > 0,
                      f"{decisions} decision(s) answered by your API." if decisions else "No decision answered yet."),
        ChecklistStep("Capability 2: submission and redirect", submissions > 0,
                      f"{submissions} submission(s) accepted." if submissions else "No submission accepted yet."),
        ChecklistStep("Postbacks", accepted > 0,
                      f"{accepted} postback(s) matched to an application." if accepted
                      else "No postback matched yet" + (": try the console." if staging else "."),
                      "partners:debugger", "Open the postback debugger"),
        ChecklistStep("Product data", products > 0,
                      f"{products} product(s) on file." if products else "No product sent yet.", "partners:products", "See your products"),
        _conformance_step(lender),
    ]


def _conformance_step(lender: Lender) -> ChecklistStep:
    """The kit runs on the staging row; its certificate is what lets staff turn production live
    (apps.conformance.activation), so a production row shows its staging row's certificate."""
    staging = lender if lender.environment == Lender.Environment.STAGING else lender.staging_counterpart
    certificate = certificate_valid_for(staging) if staging is not None else None
    if certificate is not None:
        until = certificate.expires_at.astimezone(UTC)
        evidence = f"Certified until {until:%Y-%m-%d %H:%M} UTC (run {certificate.run_id})."
        if lender.environment == Lender.Environment.PRODUCTION:
            evidence += " Live in production." if lender.is_active else " Our staff can now turn production live."
    elif staging is None:
        evidence = "No staging environment is linked to this one yet: ask our integrations team."
    else:
        evidence = "Not certified yet: run the kit on your staging environment."
    return ChecklistStep("Conformance certificate", certificate is not None, evidence,
                         "partners:conformance", "Run the conformance kit")
