"""Property-based test of lender callbacks (POST /api/v1/lenders/callbacks/<token>): whatever a
lender's callback holds (extreme numbers and dates, Unicode with NUL and lone surrogates, deep
nesting, odd types, large bodies), the answer is a deliberate status, never a 5xx, and whatever
was stored can be shown: the consumer's status page and its poll, the lead's admin page and the
lender calls' admin pages.

Django's test client re-raises any exception a view lets through, so an unhandled one fails the
example. One lender of each style that takes callbacks (embedded, async_lead)."""

import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.leads.models import Decision, Lead, LeadStatus
from apps.lenders.models import LenderCall
from tests.factories import LeadFactory, LenderFactory

FUZZ_SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ASYNC_REFERENCE = "lead-ref-0001"

tricky_text = (st.text(alphabet=st.sampled_from("a7_-.%<>&\"'\x00\ud800\udfffé€\u00a0\u200b\ufeff \t\n"), max_size=8)
               | st.text(max_size=40)
               | st.sampled_from(["", " ", "0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-14:00", "é" * 600,
                                  "<script>alert(1)</script>", "<a href='javascript:x'>y</a>", "x" * 3000]))
extreme_numbers = st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -0.0, 0.001, 1.5, True,
                                   None, "1e400", "NaN", "-Infinity", "999999999999.99", "1000000000000", "0x10",
                                   "1_000", "١٢٣", 600, 601, 99.9999, 100])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text | extreme_numbers
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(tricky_text, children, max_size=3), max_leaves=8)
near = extreme_numbers | tricky_text | json_values

embedded_offer = st.fixed_dictionaries({
    "offerId": st.sampled_from(["o1", "o2", " ", "x" * 129]) | tricky_text, "amount": near,
    "termMonths": near, "monthlyPayment": near, "annualRate": near,
}, optional={"currency": st.sampled_from(["COP", "USD", "cop", "ÇOP", "C\x00P"]),
             "offerUrl": st.sampled_from(["https://lender.example/o", "javascript:alert(1)", ""]) | tricky_text})
embedded_bodies = st.fixed_dictionaries({
    "decision": st.sampled_from(["approved", "rejected", "pending", "APPROVED", ""]) | tricky_text,
}, optional={"offers": st.lists(embedded_offer, max_size=3) | near, "reason": near, "applicationRef": near,
             "decidedAt": near, "extra": json_values})
async_product = st.fixed_dictionaries({
    "productId": st.sampled_from(["p1", "p2"]) | tricky_text, "amount": near, "termMonths": near,
    "monthlyPayment": near, "interestRate": near, "apr": near,
    "lenderOfferUrl": st.sampled_from(["https://lender.example/p"]) | tricky_text,
})
async_bodies = st.fixed_dictionaries({
    "status": st.sampled_from(["offers_found", "product_selected", "no_offers", "timed_out", "created", "x"]),
}, optional={"products": st.dictionaries(st.sampled_from(["requested-amount", "higher-than-requested-amount",
                                                          "lower-than-requested-amount"]),
                                         st.lists(async_product, max_size=2), max_size=2) | near,
             "adverseActionNotice": near, "updatedAt": near, "extra": json_values})


@pytest.fixture
def waiting_leads(db):
    """A lead waiting on each style's lender, its prequalify decision pending."""
    leads = {}
    for style in ("embedded", "async_lead"):
        lender = LenderFactory(adapter=style, credentials={"api_key": "k", "client_id": "c", "client_secret": "s"})
        lead = LeadFactory(listing__product__lender=lender, status=LeadStatus.DECISION_PENDING)
        Decision.objects.create(lead=lead, lender=lender, outcome=Decision.Outcome.PENDING,
                                lender_reference=ASYNC_REFERENCE if style == "async_lead" else "")
        leads[style] = lead
    return leads


def post_callback(client, lead: Lead, raw_body: bytes):
    return client.generic("POST", reverse("leads:lender_callback", args=[lead.lender.callback_token]),
                          data=raw_body, content_type="application/json")


def assert_everything_shows(client, admin_client, lead: Lead) -> None:
    assert client.get(reverse("flow:status", args=[lead.public_token])).status_code == 200
    assert admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200
    assert admin_client.get(reverse("admin:leads_lead_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:lenders_lendercall_changelist")).status_code == 200
    for call in LenderCall.objects.filter(lead=lead):
        assert admin_client.get(reverse("admin:lenders_lendercall_change", args=[call.pk])).status_code == 200


def raw(body: dict, ensure_ascii: bool) -> bytes:
    return json.dumps(body, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@FUZZ_SETTINGS
@given(style=st.sampled_from(["embedded", "async_lead"]), embedded=embedded_bodies, async_body=async_bodies,
       names_the_lead=st.booleans(), ensure_ascii=st.booleans())
def test_a_callback_never_causes_a_server_error_and_what_is_stored_can_be_shown(
        client, admin_client, waiting_leads, style, embedded, async_body, names_the_lead, ensure_ascii):
    lead = waiting_leads[style]
    if style == "embedded":
        body = {**embedded, "trackingId": lead.tracking_id if names_the_lead else "someone-else"}
    else:
        body = {**async_body, "uuid": ASYNC_REFERENCE if names_the_lead else "x", "partnerLeadId": lead.tracking_id}

    response = post_callback(client, lead, raw(body, ensure_ascii))

    assert response.status_code in (204, 400, 404), response.status_code
    assert response.content == b""
    if response.status_code == 204:
        assert_everything_shows(client, admin_client, lead)


@pytest.mark.parametrize("raw_body", [
    b'{"trackingId": "%s", "decision": "rejected", "reason": "a\\u0000b"}',
    b'{"trackingId": "%s", "decision": "rejected", "reason": "\\ud800"}',
    b'{"trackingId": "%s", "decision": "rejected", "applicationRef": "\\udfff"}',
    b'{"trackingId": "%s", "decision": "rejected", "extra": {"\\u0000": 1}}',
    b'{"trackingId": "%s", "decision": "rejected", "extra": 1e400}',
    b'{"trackingId": "%s", "decision": "rejected", "extra": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
], ids=["nul_in_text", "lone_surrogate_in_text", "lone_surrogate_in_reference", "nul_in_a_key", "infinite_number",
        "deep_nesting"])
def test_a_callback_the_database_could_not_hold_is_refused_or_stored_showable(client, admin_client, waiting_leads,
                                                                              raw_body):
    lead = waiting_leads["embedded"]
    response = post_callback(client, lead, raw_body.replace(b"%s", lead.tracking_id.encode()))
    assert response.status_code in (204, 400)
    if response.status_code == 204:
        assert_everything_shows(client, admin_client, lead)
