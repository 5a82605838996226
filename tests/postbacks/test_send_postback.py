"""manage.py send_postback against a live server."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.leads.models import Lead, LeadStatus
from apps.lenders.models import Lender
from apps.postbacks.models import PostbackEvent
from tests.factories import LeadFactory, LenderFactory


def send(*args) -> str:
    out = io.StringIO()
    call_command("send_postback", *args, stdout=out)
    return out.getvalue()


def test_send_postback_sends_a_signed_postback_and_prints_the_answer(live_server):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)

    output = send("--lender", lender.code, "--click-id", lead.tracking_id, "--status", "disbursed",
                  "--amount", "1500000.00", "--event-id", "evt-9", "--url", live_server.url)

    assert "-> 202" in output
    assert '"lead_status":"disbursed"' in output
    event = PostbackEvent.objects.get()
    assert (str(event.amount), event.currency, event.event_id) == ("1500000.00", "COP", "evt-9")
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.DISBURSED


def test_send_postback_uses_the_bearer_key_for_an_api_key_lender(live_server):
    lender = LenderFactory(postback_auth=Lender.PostbackAuth.API_KEY, postback_secret="ak_" + "k" * 30,
                           postback_api_key_digest=Lender.api_key_digest("ak_" + "k" * 30))
    lead = LeadFactory(listing__product__lender=lender)

    output = send("--lender", lender.code, "--click-id", lead.tracking_id, "--status", "approved",
                  "--url", live_server.url)

    assert "-> 202" in output


def test_send_postback_prints_a_refusal_as_the_endpoint_gave_it(live_server):
    lender = LenderFactory()
    output = send("--lender", lender.code, "--click-id", "nobody", "--status", "approved", "--url", live_server.url)
    assert "-> 404" in output
    assert "unknown_click_id" in output


def test_send_postback_to_the_tester_records_nothing(live_server):
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender)

    output = send("--lender", lender.code, "--click-id", lead.tracking_id, "--status", "approved",
                  "--url", live_server.url, "--tester")

    assert "/api/v1/postbacks/test -> 202" in output
    assert '"test":true' in output
    assert not PostbackEvent.objects.exists()
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW


def test_send_postback_refuses_an_unknown_lender(db):
    with pytest.raises(CommandError, match="No lender"):
        send("--lender", "nobody", "--click-id", "x", "--status", "approved")
