"""Property-based test of the consumer's entry and identity step: whatever a deep link's query
and the identity form hold (extreme numbers and dates, Unicode with NUL and lone surrogates, long
text), the answer is a page or a redirect, never a 5xx, and a journey that took the answers can
be shown: its status page and its admin page."""

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.leads.models import Lead
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish

FUZZ_SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID = {
    "document_type": "CC", "document_number": "1020304050", "full_name": "Ana María Pérez",
    "monthly_income": "3.500.000", "requested_amount": "5000000", "birth_date": "1990-05-17", "region": "CO-DC",
    "email": "ana@example.com", "employment_status": "employed", "accept_terms": "on", "accept_privacy": "on",
    "accept_data_processing": "on",
}
# Form values arrive as text: NUL and lone surrogates reach the server percent-encoded.
tricky_text = (st.text(alphabet=st.sampled_from("a7_-.,%$ \x00\ud800é€\u00a0\u200b\ufeff\t\n"), max_size=8)
               | st.text(max_size=30)
               | st.sampled_from(["", " ", "0", "-1", "99999999999999999999", "9" * 20, "18446744073709551616",
                                  "9.999.999.999", "10.000.000.000", "1e400", "NaN", "٣٥٠٠٠٠٠", "３５００００",
                                  "0001-01-01", "9999-12-31", "31/12/9999", "01/01/0001", "1900-02-29",
                                  "2000-02-29", "1916-01-01", "é" * 200]))
identity_changes = st.dictionaries(st.sampled_from(sorted(VALID)), tricky_text, max_size=4)
deep_link_query = st.dictionaries(st.sampled_from(["reference", "name", "phone", "sig", "ref", "document", "p", "x"])
                                  | tricky_text, tricky_text, max_size=4)


@pytest.fixture
def entry(db):
    """An origin whose listing's lender asks for every extra field the form can show."""
    origin = OriginFactory(code="fuzzco")
    lender = LenderFactory(adapter="async_lead", credentials={"client_id": "c", "client_secret": "s"})
    listing = ListingFactory(product=ProductFactory(lender=lender))
    publish(listing=listing, origin=origin)
    return origin, listing


def started_journey(client: Client, origin, listing) -> Lead:
    answer = client.post(reverse("flow:start", args=[origin.code]), {"listing_id": listing.listing_id})
    assert answer.status_code == 303
    return Lead.objects.order_by("-pk").first()


def encoded(form: dict) -> bytes:
    """The form as a browser sends it, with what UTF-8 cannot encode as the bytes a client may send."""
    from urllib.parse import quote

    return "&".join(f"{quote(name.encode('utf-8', 'surrogatepass'))}={quote(value.encode('utf-8', 'surrogatepass'))}"
                    for name, value in form.items()).encode()


@FUZZ_SETTINGS
@given(query=deep_link_query, changes=identity_changes)
def test_the_entry_and_the_identity_step_never_cause_a_server_error(admin_client, entry, query, changes):
    origin, listing = entry
    client = Client()
    catalog = f"{reverse('flow:catalog', args=[origin.code])}?{encoded(query).decode()}"
    assert client.get(catalog).status_code in (200, 302)
    lead = started_journey(client, origin, listing)

    answer = client.generic("POST", reverse("flow:identity", args=[lead.public_token]),
                            data=encoded({**VALID, **changes}), content_type="application/x-www-form-urlencoded")

    assert answer.status_code in (200, 303), answer.status_code
    lead.refresh_from_db()
    assert client.get(reverse("flow:status", args=[lead.public_token])).status_code == 200
    assert admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200


@pytest.mark.parametrize("amount", ["99999999999999999999", "18446744073709551616", "10.000.000.001"])
def test_a_requested_amount_beyond_the_window_is_refused_on_the_form(entry, amount):
    origin, listing = entry
    client = Client()
    lead = started_journey(client, origin, listing)

    answer = client.post(reverse("flow:identity", args=[lead.public_token]), {**VALID, "requested_amount": amount})

    assert answer.status_code == 200
    assert "requested_amount" in answer.context["form"].errors
