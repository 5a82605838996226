"""Every adapter against its sandbox lender over real loopback HTTP, through the call engine.

One contract for every registered API style (STYLES: the adapter registry, each style with the
sandbox module its adapter names, whose `SANDBOX.contract` says what differs): an approval, a
rejection, a pending decision resolved, a permanent failure, and each technical failure with
its attempts counted in LenderCall and the consumer's outcome checked: a technical failure is
"try again" (decision_failed), never "not eligible". Retries are driven by calling
`lender_prequalify_attempt` in a loop, as the task would, without Celery.
"""

import json

import pytest

from apps.leads.engine.attempt import lender_poll_attempt, lender_prequalify_attempt
from apps.leads.engine.requests import prequalify_request_build
from apps.leads.models import Decision, DecisionReason, Lead, LeadStatus
from apps.leads.selectors import rejection_category
from apps.leads.services import RETRYABLE
from apps.lenders import selectors
from apps.lenders.adapters import adapter_class
from apps.lenders.adapters.base import TechnicalFailure
from apps.lenders.config import adapter_for, idempotency_key
from apps.lenders.models import LenderCall
from apps.sandbox.styles import sandbox_style
from tests.factories import lead_with_journey_data
from tests.lenders.conftest import STYLES

TECHNICAL_FAILURES = ("stall", "reset", "500", "429", "malformed")
# Monthly incomes the sandboxes decide on (apps/sandbox/services.py): below 1,200,000 rejects.
APPROVED_INCOME, REJECTED_INCOME = 3_200_000, 900_000


def attempt_until_settled(lead, lender, limit=8):
    """What the task does: attempt again while the engine asks for a retry."""
    for _ in range(limit):
        outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=lender.pk)
        if outcome.action != "retry":
            return outcome
    return outcome


def calls(lead, capability="prequalify"):
    return list(LenderCall.objects.filter(lead=lead, capability=capability).order_by("attempt"))


def status(lead):
    return Lead.objects.get(pk=lead.pk).status


@pytest.mark.parametrize("style", STYLES)
def test_an_approval_stores_offers_and_shows_them(sandbox_of, style):
    sandbox = sandbox_of(style)
    sandbox.script("", pending_seconds=0.2)
    lead = lead_with_journey_data(lender=sandbox.lender, monthly_income=APPROVED_INCOME)
    outcome = attempt_until_settled(lead, sandbox.lender)
    if sandbox_style(style).contract.first_answer_pending:  # resolved by a poll
        assert outcome.detail == "pending"
        outcome = _poll_until_settled(lead, sandbox.lender)
    assert (outcome.action, outcome.detail) == ("recorded", "approved")
    assert status(lead) == LeadStatus.OFFERED
    decision = Decision.objects.get(lead=lead)
    assert decision.offers.count() >= 1
    for offer in decision.offers.all():
        assert offer.amount > 0 and offer.monthly_payment > 0 and offer.term_months > 0
        assert offer.url.startswith("http")


@pytest.mark.parametrize("style", STYLES)
def test_a_rejection_is_not_eligible_with_a_categorized_reason(sandbox_of, style):
    sandbox = sandbox_of(style)
    sandbox.script("", pending_seconds=0.2)
    lead = lead_with_journey_data(lender=sandbox.lender, monthly_income=REJECTED_INCOME)
    outcome = attempt_until_settled(lead, sandbox.lender)
    if sandbox_style(style).contract.first_answer_pending:
        outcome = _poll_until_settled(lead, sandbox.lender)
    assert (outcome.action, outcome.detail) == ("recorded", "rejected")
    assert status(lead) == LeadStatus.NOT_ELIGIBLE
    decision = Decision.objects.get(lead=lead)
    assert decision.reason  # the lender's own code or words are kept
    category = rejection_category(decision)
    assert category in {"income", "credit_policy"}
    assert DecisionReason.objects.filter(decision=decision).exists()
    assert selectors.rejection_sentence(category)


def _poll_until_settled(lead, lender, limit=60):
    import time

    for _ in range(limit):
        outcome = lender_poll_attempt(lead_id=lead.pk, lender_id=lender.pk)
        if outcome.action != "retry":
            return outcome
        time.sleep(min(outcome.countdown or 0.05, 0.1))
    return outcome


@pytest.mark.parametrize("style", [style for style in STYLES if adapter_class(style).supports_poll])
def test_a_pending_decision_is_resolved_by_polling(sandbox_of, style):
    sandbox = sandbox_of(style)
    sandbox.script("", pending_then_resolve=True, pending_seconds=0.3)
    lead = lead_with_journey_data(lender=sandbox.lender, monthly_income=APPROVED_INCOME)
    outcome = lender_prequalify_attempt(lead_id=lead.pk, lender_id=sandbox.lender.pk)
    assert (outcome.action, outcome.detail) == ("recorded", "pending")
    assert status(lead) == LeadStatus.DECISION_PENDING
    outcome = _poll_until_settled(lead, sandbox.lender)
    assert (outcome.action, outcome.detail) == ("recorded", "approved")
    assert status(lead) == LeadStatus.OFFERED
    decision = Decision.objects.get(lead=lead)  # resolved in place: still one decision
    assert decision.outcome == "approved" and decision.offers.exists()
    assert calls(lead, "poll") and all(call.outcome in ("pending", "approved") for call in calls(lead, "poll"))


@pytest.mark.parametrize("style, refusal", [
    (style, sandbox_style(style).contract.refused_field) for style in STYLES
])
def test_data_the_lender_refuses_is_a_permanent_failure_showing_its_field_messages(sandbox_of, style, refusal):
    sandbox = sandbox_of(style)
    lead = lead_with_journey_data(lender=sandbox.lender, document_type="XX", birth_date="")
    outcome = attempt_until_settled(lead, sandbox.lender)
    assert outcome.action == "failed"
    [call] = calls(lead)
    assert call.outcome == "permanent_failure" and refusal in call.error
    assert status(lead) == LeadStatus.DECISION_FAILED  # "try again", never "not eligible"


@pytest.mark.parametrize("kind", TECHNICAL_FAILURES)
@pytest.mark.parametrize("style", STYLES)
def test_each_technical_failure_is_retried_then_offers_try_again(sandbox_of, settings, style, kind):
    settings.LENDER_TIMEOUT_CAP_SECONDS = 0.5
    sandbox = sandbox_of(style, max_retries=1)
    sandbox.script(f"{kind}, {kind}", stall_seconds=0.8)
    lead = lead_with_journey_data(lender=sandbox.lender)
    outcome = attempt_until_settled(lead, sandbox.lender)
    assert outcome.action == "failed"
    attempts = calls(lead)
    assert [call.attempt for call in attempts] == [1, 2]
    assert {call.outcome for call in attempts} == {"technical_failure"}
    assert len({call.idempotency_key for call in attempts}) == 1
    assert status(lead) == LeadStatus.DECISION_FAILED and LeadStatus.DECISION_FAILED in RETRYABLE
    assert not Decision.objects.filter(lead=lead).exists()
    if kind in ("500", "429"):
        assert attempts[-1].http_status == int(kind)


@pytest.mark.parametrize("style", STYLES)
def test_every_call_carries_the_idempotency_key_and_a_retry_is_the_identical_request(sandbox_of, style):
    sandbox = sandbox_of(style)
    sandbox.script("500")
    lead = lead_with_journey_data(lender=sandbox.lender)
    request = prequalify_request_build(Lead.objects.select_related("product", "listing").get(pk=lead.pk))
    key = idempotency_key(lead.tracking_id, "prequalify")
    adapter = adapter_for(sandbox.lender)
    with pytest.raises(TechnicalFailure):
        adapter.prequalify(request, idempotency_key=key)
    calls_made = [e for e in adapter.http.exchanges if "token" not in e.url]
    assert calls_made and all(e.request_headers["Idempotency-Key"] == key for e in calls_made)
    retry = adapter_for(sandbox.lender)
    retry.prequalify(request, idempotency_key=key)
    retried = [e for e in retry.http.exchanges if "token" not in e.url]
    assert retried[0].request_headers["Idempotency-Key"] == key
    assert retried[0].request_body == calls_made[0].request_body


@pytest.mark.parametrize("style", STYLES)
def test_stored_exchanges_of_every_style_keep_no_income_or_identity_in_clear(sandbox_of, style):
    """The income is personal data: whatever key a style gives it (monthlyIncome, annual_income,
    income.annual, ingresoMensual) and in whatever answer the lender echoes it, it is masked."""
    sandbox = sandbox_of(style)
    sandbox.script("", pending_seconds=0.2)
    lead = lead_with_journey_data(lender=sandbox.lender, monthly_income=4_310_000)
    if attempt_until_settled(lead, sandbox.lender).detail == "pending":
        _poll_until_settled(lead, sandbox.lender)
    stored = LenderCall.objects.filter(lead=lead)
    assert stored
    for call in stored:
        text = " ".join([call.request_url, call.request_body, call.response_body, call.error])
        for value in ("4310000", "51720000", "4,310,000", "4.310.000", lead.document_number, lead.full_name):
            assert value not in text, (call.capability, value)


def test_a_mapped_api_that_names_the_income_anything_still_stores_it_masked(sandbox_of):
    from apps.lenders.models import MappedApi

    sandbox = sandbox_of("mapped_json")
    api = MappedApi.objects.get(lender=sandbox.lender)
    template = json.loads(api.prequalify_template)
    template["dato7"] = "{{consumer.monthly_income}}"  # a key no name rule recognises
    api.prequalify_template = json.dumps(template)
    api.save(update_fields=["prequalify_template"])
    lead = lead_with_journey_data(lender=sandbox.lender, monthly_income=4_310_000)
    attempt_until_settled(lead, sandbox.lender)
    [call] = calls(lead)
    assert '"dato7":' in call.request_body and "4310000" not in call.request_body
