"""The checks of the lender's API capabilities, on test journeys driven through the lender
engine (apps/leads/engine), with the lender's real adapter and every call recorded and masked
as a journey's calls are (apps/lenders/calls.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
from django.db import transaction

from apps.conformance import journeys
from apps.conformance.report import FAILED, NOT_APPLICABLE, PASSED, Check, calls_evidence, note, p95
from apps.leads.engine.requests import lead_personal_values, prequalify_request_build, submit_request_build
from apps.leads.models import Decision, Lead, LeadStatus
from apps.leads.services import JourneyError, journey_details_submit, journey_handoff, journey_offer_choose
from apps.lenders.adapters import adapter_class
from apps.lenders.calls import CallFailed, CallRefused, lender_call_open, lender_call_send
from apps.lenders.config import deadline_seconds, lender_polls, lender_submits
from apps.lenders.models import Lender, LenderCall

HANDOFF_TIMEOUT_SECONDS = 10


@dataclass
class EngineRun:
    """What the engine checks share: the lender, its profile's consumers and the journeys made."""

    target: journeys.Target
    profile: object  # ConformanceProfile
    latency_target_ms: int
    decision_seconds: float
    approved: Lead | None = None
    journeys: list[Lead] = field(default_factory=list)

    @property
    def lender(self) -> Lender:
        return self.target.lender

    def journey(self, income: int, **kwargs) -> Lead:
        lead = journeys.journey_create(self.target, income=income, document_number=self.profile.document_number,
                                       **kwargs)
        self.journeys.append(lead)
        return lead


def _decision_text(decision: Decision | None) -> str:
    if decision is None:
        return "no decision stored"
    return f"{decision.outcome} ({decision.offers.count()} offers, reference {decision.lender_reference or '–'})"


def check_approved(run: EngineRun) -> Check:
    lead = journeys.decide(run.journey(run.profile.approved_income), seconds=run.decision_seconds)
    decision = journeys.decision_of(lead)
    evidence = calls_evidence(lead.pk)
    if lead.status == LeadStatus.OFFERED and decision and decision.outcome == Decision.Outcome.APPROVED \
            and decision.offers.exists():
        run.approved = lead
        return Check("decision_approved", PASSED, f"Approved: {_decision_text(decision)}.", evidence)
    return Check("decision_approved", FAILED,
                 f"Expected approved with offers; the journey ended {lead.status}, {_decision_text(decision)}.", evidence)


def check_pending(run: EngineRun) -> Check:
    lender = run.lender
    if not (lender_polls(lender) or adapter_class(lender.adapter).supports_callback):
        return Check("decision_pending", NOT_APPLICABLE,
                     "This lender's API answers synchronously (no polling, no callback): no pending decisions.")
    lead = journeys.decide(run.journey(run.profile.pending_income), seconds=run.decision_seconds, until_final=False)
    calls = LenderCall.objects.filter(lead=lead)
    evidence = calls_evidence(lead.pk)
    technical = calls.filter(outcome=LenderCall.Outcome.TECHNICAL_FAILURE).count()
    if calls.filter(outcome=LenderCall.Outcome.PENDING).exists() and not technical:
        return Check("decision_pending", PASSED, "Answered pending, as a business answer.", evidence)
    return Check("decision_pending", FAILED, f"Expected a pending answer; the journey is {lead.status} "
                 f"after {calls.count()} call(s), {technical} technical failure(s).", evidence)


def check_submission(run: EngineRun) -> Check:
    lead = run.approved
    if lead is None:
        return Check("submission", FAILED, "No approved journey to submit (see the approved decision).")
    offer = journeys.decision_of(lead).offers.order_by("id").first()
    try:
        journey_offer_choose(lead=lead, offer_id=offer.pk)
        journey_details_submit(lead=Lead.objects.get(pk=lead.pk), email=journeys.CONTACT["email"],
                               phone=journeys.CONTACT["phone"])
    except JourneyError as exc:
        return Check("submission", FAILED, f"The journey could not be submitted: {exc}")
    lead = journeys.submit(Lead.objects.get(pk=lead.pk), seconds=run.decision_seconds)
    run.approved = lead
    evidence = calls_evidence(lead.pk)
    how = "by its submission call" if lender_submits(run.lender) else "no submission call: the offer's URL is the redirect"
    if lead.status == LeadStatus.SUBMITTED and lead.redirect_url:
        return Check("submission", PASSED, f"Submitted ({how}); redirect URL {lead.redirect_url}.", evidence)
    return Check("submission", FAILED, f"Expected submitted with a redirect URL; the journey is {lead.status}.", evidence)


def _repeat(lead: Lead, lender: Lender, capability: str, *, seconds: float):
    """Send the journey's request once more through the adapter, recorded as a further attempt
    with the same tracking ID and Idempotency-Key: the lender's answer, or the CallFailed.

    The repeat waits (up to `seconds`) for any other attempt still in flight: a worker's task for
    the same step may have claimed it just before the kit's own attempt was recorded, and the
    kit repeats the request once nobody else is sending it."""
    deadline = time.monotonic() + seconds
    while True:
        with transaction.atomic():
            Lead.objects.select_for_update().filter(pk=lead.pk).first()
            call = lender_call_open(lender=lender, lead_id=lead.pk, capability=capability,
                                    tracking_id=lead.tracking_id)
        if call is not CallRefused.IN_FLIGHT or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if isinstance(call, CallRefused):
        return CallFailed("technical", call.value)
    if capability == LenderCall.Capability.PREQUALIFY:
        request = prequalify_request_build(lead)
        send = lambda adapter: adapter.prequalify(request, idempotency_key=call.idempotency_key)  # noqa: E731
    else:
        request = submit_request_build(lead)
        send = lambda adapter: adapter.submit(request, idempotency_key=call.idempotency_key)  # noqa: E731
    try:
        return lender_call_send(call=call, lender=lender, send=send, personal=lead_personal_values(lead))
    except CallFailed as failed:
        return failed


def check_idempotency(run: EngineRun) -> Check:
    """Run right after the approved decision: the same decision request again; after the
    submission, the same application again (when the lender has a submission call)."""
    lead = run.approved
    if lead is None:
        return Check("idempotency", FAILED, "No approved journey to repeat (see the approved decision).")
    stored = journeys.decision_of(lead)
    first = {"decision": stored.outcome, "reference": stored.lender_reference,
             "offers": sorted(offer.lender_offer_id for offer in stored.offers.all())}
    answer = _repeat(lead, run.lender, LenderCall.Capability.PREQUALIFY, seconds=run.decision_seconds)
    evidence = calls_evidence(lead.pk)
    if isinstance(answer, CallFailed):
        return Check("idempotency", FAILED, f"The repeated decision request failed: {answer.message}", evidence)
    again = {"decision": str(answer.decision), "reference": answer.lender_reference,
             "offers": sorted(offer.lender_offer_id for offer in answer.offers)}
    evidence.insert(0, note("First answer and repeat, compared", first=first, repeat=again))
    if first != again:
        changed = ", ".join(key for key in first if first[key] != again[key])
        return Check("idempotency", FAILED, f"The same tracking ID got a different answer ({changed}): "
                     "the lender made a second application.", evidence)
    return Check("idempotency", PASSED, "The repeat got the same decision, reference and offers.", evidence)


def check_idempotent_submission(run: EngineRun, decided: Check) -> Check:
    lead = run.approved
    if decided.status != PASSED or lead is None or lead.status != LeadStatus.SUBMITTED or not lender_submits(run.lender):
        return decided
    answer = _repeat(lead, run.lender, LenderCall.Capability.SUBMIT, seconds=run.decision_seconds)
    evidence = calls_evidence(lead.pk)
    if isinstance(answer, CallFailed):
        return Check("idempotency", FAILED, f"The repeated application failed: {answer.message}", evidence)
    if answer.redirect_url != lead.redirect_url:
        return Check("idempotency", FAILED, "The repeated application got another redirect URL: a second application.",
                     evidence)
    return Check("idempotency", PASSED, decided.summary + " The repeated application got the same redirect URL.",
                 evidence)


def check_rejection(run: EngineRun) -> Check:
    rejected = journeys.decide(run.journey(run.profile.rejected_income), seconds=run.decision_seconds)
    # Data no lender can take: an unknown document type and no birth date.
    invalid = journeys.decide(run.journey(run.profile.approved_income, document_type="XX", birth_date=""),
                              seconds=run.decision_seconds)
    evidence = [note("Consumer meant to be rejected"), *calls_evidence(rejected.pk),
                note("Consumer with invalid data (document type XX, no birth date)"), *calls_evidence(invalid.pk)]
    problems = []
    rejected_calls = LenderCall.objects.filter(lead=rejected)
    decision = journeys.decision_of(rejected)
    if rejected_calls.filter(outcome=LenderCall.Outcome.TECHNICAL_FAILURE).exists():
        problems.append("the rejection came as a technical failure (5xx, timeout or garbage), which we retry")
    if decision is None or decision.outcome != Decision.Outcome.REJECTED:
        problems.append(f"the consumer meant to be rejected ended {rejected.status}, {_decision_text(decision)}")
    invalid_decision = journeys.decision_of(invalid)
    if invalid_decision is not None:
        problems.append(f"invalid data was answered as a decision ({invalid_decision.outcome}), not as an error")
    if problems:
        return Check("rejection_vs_error", FAILED, "; ".join(problems).capitalize() + ".", evidence)
    return Check("rejection_vs_error", PASSED, "The rejection came as a business answer; invalid data as an error "
                 f"({invalid.status}).", evidence)


def check_latency(run: EngineRun) -> Check:
    durations, failures, evidence = [], 0, []
    limit_ms = int(deadline_seconds(run.lender) * 1000)
    for _ in range(run.profile.latency_calls):
        lead = journeys.decide(run.journey(run.profile.approved_income), seconds=run.decision_seconds,
                               until_final=False)
        call = LenderCall.objects.filter(lead=lead, capability=LenderCall.Capability.PREQUALIFY).order_by("id").first()
        if call is None or call.duration_ms is None or call.outcome == LenderCall.Outcome.TECHNICAL_FAILURE:
            failures += 1
            continue
        durations.append(call.duration_ms)
    if not durations:
        return Check("latency", FAILED, f"None of {run.profile.latency_calls} decision calls answered.", evidence)
    value = p95(durations)
    evidence.append(note("Decision call durations (ms)", durations=durations, p95_ms=value,
                         target_ms=run.latency_target_ms, timeout_ms=limit_ms))
    summary = (f"p95 {value} ms over {len(durations)} calls (target {run.latency_target_ms} ms), slowest "
               f"{max(durations)} ms, {failures} failed or timed out (our timeout {limit_ms} ms).")
    ok = value <= run.latency_target_ms and not failures and max(durations) < limit_ms
    return Check("latency", PASSED if ok else FAILED, summary, evidence)


def check_handoff(run: EngineRun) -> Check:
    lead = run.approved
    if lead is None or lead.status != LeadStatus.SUBMITTED:
        return Check("handoff", FAILED, "No submitted journey to hand off (see the submission).")
    url = journey_handoff(lead=lead)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    expected = {"click_id": lead.tracking_id, "product_id": lead.product.product_id,
                "listing_id": lead.listing.listing_id}
    carried = {name: query.get(name, []) for name in expected}
    problems = [f"{name} is {carried[name]!r}, not [{value!r}]" for name, value in expected.items()
                if carried[name] != [value]]
    try:
        answer = requests.get(url, timeout=HANDOFF_TIMEOUT_SECONDS, allow_redirects=True)
        status, final = answer.status_code, answer.url
    except requests.RequestException as exc:
        status, final = None, f"not reached: {type(exc).__name__}"
    if status is None or status >= 400:
        problems.append(f"the lender's page answered {status or final}")
    evidence = [note("Hand-off", url=url, answer_status=status, final_url=final)]
    if problems:
        return Check("handoff", FAILED, "; ".join(problems).capitalize() + ".", evidence)
    return Check("handoff", PASSED, f"The lender's page accepted the hand-off (HTTP {status}).", evidence)
