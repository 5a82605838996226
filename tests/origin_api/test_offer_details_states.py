"""The offerUrl's details page in the journey's other states (apps.origin_api.offer_views.details):
fields Lead keeps in its own columns, a revoked consent, another offer chosen meanwhile, a forged
link. Each ends on an honest page of ours, never an error, and nothing reaches a lender twice."""

from urllib.parse import urlsplit

import pytest
from django.db import connection

from apps.leads.engine.results import decision_record
from apps.leads.models import Lead, LeadStatus
from apps.leads.revocation import consent_revoke
from apps.lenders.adapters.base import Decision as DecisionKind
from apps.lenders.adapters.base import DecisionResult
from apps.lenders.adapters.embedded import EmbeddedFlowAdapter
from apps.origin_api.models import OriginLead
from tests.origin_api.conftest import lead_body
from tests.origin_api.test_selectors import _offer

pytestmark = pytest.mark.django_db


@pytest.fixture
def birth_date_at_submission(monkeypatch):
    """The lenders (embedded style) need the birth date and the region with the application."""
    monkeypatch.setattr(EmbeddedFlowAdapter, "submit_fields", ("email", "phone", "birth_date", "region"))


def _offered(caller, market) -> tuple[OriginLead, str, str]:
    body = lead_body()
    del body["borrower"]["birthDate"], body["borrower"]["region"]
    origin_lead = OriginLead.objects.get(uuid=caller.post_lead(body).json()["uuid"])
    decision_record(lead_id=origin_lead.lead_id, lender_id=market[1][0].pk, result=DecisionResult(
        decision=DecisionKind.APPROVED, offers=(_offer("A-1", 3_000_000, 160_000), _offer("A-2", 5_000_000, 265_000))))
    offers = caller.get_lead(str(origin_lead.uuid)).json()["offers"]
    return origin_lead, urlsplit(offers["requested"][0]["offerUrl"]).path, urlsplit(offers["higher"][0]["offerUrl"]).path


def test_a_birth_date_and_a_region_asked_on_the_page_are_kept_on_the_lead_the_birth_date_encrypted(
        client, caller, market, birth_date_at_submission):
    origin_lead, path, _other = _offered(caller, market)
    assert client.get(path)["Location"] == path + "/details"
    page = client.get(path + "/details")
    assert list(page.context["form"].fields) == ["birth_date", "region"]

    too_young = client.post(path + "/details", {"birth_date": "2020-01-01", "region": "CO-XX"})
    assert set(too_young.context["form"].errors) == {"birth_date", "region"}
    sent = client.post(path + "/details", {"birth_date": "17/05/1990", "region": "CO-ANT"})
    assert sent.status_code == 303

    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert (lead.status, lead.birth_date, lead.region) == (LeadStatus.SUBMITTING, "1990-05-17", "CO-ANT")
    with connection.cursor() as cursor:
        cursor.execute("SELECT birth_date FROM leads_lead WHERE id = %s", [lead.pk])
        assert "1990" not in cursor.fetchone()[0]
    assert caller.get_lead(str(origin_lead.uuid)).json()["status"] == "product_selected"


def test_a_revoked_consent_ends_on_the_unavailable_page_and_sends_nothing(
        client, caller, market, birth_date_at_submission):
    origin_lead, path, _other = _offered(caller, market)
    client.get(path)
    consent_revoke(lead=Lead.objects.get(pk=origin_lead.lead_id))

    assert client.get(path + "/details")["Location"] == path
    assert client.get(path).status_code == 409
    posted = client.post(path + "/details", {"birth_date": "1990-05-17", "region": "CO-ANT"})
    assert posted.status_code == 303 and client.get(path + "/lender").status_code in (302, 409)
    assert Lead.objects.get(pk=origin_lead.lead_id).status == LeadStatus.OFFERED


def test_another_offer_chosen_meanwhile_is_the_one_asked_for_and_the_first_page_sends_nothing(
        client, caller, market, birth_date_at_submission):
    origin_lead, path, other = _offered(caller, market)
    client.get(path)
    assert client.get(other)["Location"] == other + "/details"  # the borrower went back and chose again

    stale = client.post(path + "/details", {"birth_date": "1990-05-17", "region": "CO-ANT"})
    assert stale.status_code == 303 and Lead.objects.get(pk=origin_lead.lead_id).status == LeadStatus.OFFERED
    assert client.post(other + "/details", {"birth_date": "1990-05-17", "region": "CO-ANT"}).status_code == 303
    lead = Lead.objects.get(pk=origin_lead.lead_id)
    assert lead.status == LeadStatus.SUBMITTING and lead.chosen_offer.lender_offer_id == "A-2"
    assert lead.events.filter(kind="offer_chosen").count() == 2


def test_a_forged_details_link_is_not_found(client, caller, market, birth_date_at_submission):
    _origin_lead, path, _other = _offered(caller, market)
    assert client.get(path[:-3] + "AAA/details").status_code == 404
    assert client.post("/offer/bm90LWEtdG9rZW4/details", {}).status_code == 404


def test_posts_over_the_limit_from_one_address_get_a_friendly_429_and_send_nothing(
        client, caller, market, birth_date_at_submission, settings):
    """The details page and "try again" are limited per address as the hosted flow's posts are
    (prosperas/consumer_limits.py): over the limit nothing is stored or sent, and the page says to
    wait and leads back to where the consumer was."""
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                                      "LOCATION": "offer-details-limit-test"}}
    settings.FLOW_RATE_LIMITS = {"start": "1000/m", "post": "1/m"}
    origin_lead, path, _other = _offered(caller, market)
    client.get(path)

    first = client.post(path + "/details", {"birth_date": "2020-01-01", "region": "CO-ANT"})  # too young: asked again
    assert first.status_code == 200 and "birth_date" in first.context["form"].errors
    refused = client.post(path + "/details", {"birth_date": "1990-05-17", "region": "CO-ANT"})
    assert refused.status_code == 429
    assert f'href="{path}/details"' in refused.content.decode()
    assert Lead.objects.get(pk=origin_lead.lead_id).status == LeadStatus.OFFERED  # nothing sent

    retried = client.post(path + "/retry")
    assert retried.status_code == 429 and f'href="{path}/lender"' in retried.content.decode()
