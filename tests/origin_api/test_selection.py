"""An offer's offerUrl (apps.origin_api.selection, offer_views): following it records
product_selected and sends the application once; the lender's address follows with click_id,
product_id and listing_id; another offer's link, or a forged one, is refused."""

from urllib.parse import parse_qs, urlsplit

import pytest

from apps.leads.engine.results import decision_record
from apps.leads.models import Lead, LeadStatus
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.origin_api.models import OriginLead
from tests.origin_api.conftest import PERSONAL_VALUES, lead_body
from tests.origin_api.test_selectors import _offer

pytestmark = pytest.mark.django_db


def _offered(caller, market):
    origin_lead = OriginLead.objects.get(uuid=caller.post_lead(lead_body()).json()["uuid"])
    decision_record(lead_id=origin_lead.lead_id, lender_id=market[1][0].pk, result=DecisionResult(
        decision=DecisionKind.APPROVED, offers=(_offer("A-1", 3_000_000, 160_000), _offer("A-2", 5_000_000, 265_000))))
    body = caller.get_lead(str(origin_lead.uuid)).json()
    return origin_lead, body["offers"]["requested"][0]["offerUrl"], body["offers"]["higher"][0]["offerUrl"]


def _path(url: str) -> str:
    return urlsplit(url).path


def test_following_an_offer_url_selects_it_once_and_hands_off_to_the_lender_with_our_ids(client, caller, market):
    origin_lead, url, other_url = _offered(caller, market)
    assert not any(value in url for value in PERSONAL_VALUES)

    first = client.get(_path(url))
    again = client.get(_path(url))  # a double tap changes nothing
    assert first.status_code == again.status_code == 302 and first["Location"].endswith("/lender")
    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert lead.status == LeadStatus.SUBMITTING and lead.chosen_offer.lender_offer_id == "A-1"
    assert lead.events.filter(kind="offer_chosen").count() == 1
    assert caller.get_lead(str(origin_lead.uuid)).json()["status"] == "product_selected"
    assert client.get(_path(other_url)).status_code == 409  # the application went with the first offer

    waiting = client.get(first["Location"])
    assert waiting.status_code == 200 and b'http-equiv="refresh"' in waiting.content

    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.SUBMITTED, redirect_url="https://alfa.example/apply?ref=9")
    handoff = client.get(first["Location"])
    assert handoff.status_code == 302
    query = parse_qs(urlsplit(handoff["Location"]).query)
    lead.refresh_from_db()
    assert query["click_id"] == [lead.tracking_id] and query["ref"] == ["9"]
    assert query["product_id"] == [lead.product.product_id] and query["listing_id"] == [lead.listing.listing_id]
    assert lead.status == LeadStatus.HANDED_OFF
    assert caller.get_lead(str(origin_lead.uuid)).json()["status"] == "handed_off"


def test_a_forged_or_altered_offer_link_is_not_found(client, caller, market):
    _origin_lead, url, _other = _offered(caller, market)
    path = _path(url)
    assert client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")).status_code == 404
    assert client.get("/offer/bm90LWEtdG9rZW4").status_code == 404


def test_after_a_failed_submission_the_borrower_tries_again_with_the_same_tracking_id(client, caller, market):
    origin_lead, url, _other = _offered(caller, market)
    client.get(_path(url))
    Lead.objects.filter(pk=origin_lead.lead_id).update(status=LeadStatus.SUBMISSION_FAILED)
    page = client.get(_path(url) + "/lender")
    assert page.status_code == 200 and b"/retry" in page.content

    again = client.post(_path(url) + "/retry")
    assert again.status_code == 302 and again["Location"].endswith("/lender")
    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert lead.status == LeadStatus.SUBMITTING and lead.events.filter(kind="retry").count() == 1
    client.post(_path(url) + "/retry")  # a double submit sends once
    assert lead.events.filter(kind="retry").count() == 1
