"""OAuth2 client credentials over real HTTP (pytest-django's live server): a token per origin and
environment, secrets kept hashed and shown once, rotation with an overlap, and
`manage.py origin_credentials`."""

import io
import json
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken, get_application_model

from apps.origin_api.models import OriginApiClient
from apps.origin_api.services import origin_client_create
from tests.factories import OriginFactory

pytestmark = pytest.mark.django_db(transaction=True)


def get_token(live_server, client_id: str, secret: str, **form) -> requests.Response:
    return requests.post(f"{live_server.url}/api/v1/oauth2/token", auth=(client_id, secret),
                         data={"grant_type": "client_credentials", **form}, timeout=30)


def get_lead(live_server, token: str, uuid: str = "3f2c1a9e-8b7d-4c6e-9a1f-2b3c4d5e6f70") -> requests.Response:
    return requests.get(f"{live_server.url}/api/v1/leads/{uuid}", headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def test_a_client_gets_a_bearer_token_that_opens_the_api(live_server):
    issued = origin_client_create(origin=OriginFactory(code="billeteraya"), environment="staging")

    response = get_token(live_server, issued.client_id, issued.client_secret)

    assert response.status_code == 200, response.text
    token = response.json()
    assert (token["token_type"], set(token["scope"].split()), token["expires_in"]) == ("Bearer", {"leads", "events"},
                                                                                         3600)
    refused = get_lead(live_server, "not-a-token")
    lead = get_lead(live_server, token["access_token"])
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    assert (lead.status_code, lead.json()["error"]) == (404, "lead_not_found")  # authenticated, no such lead


def test_a_token_may_be_asked_for_one_scope_and_credentials_may_travel_in_the_body(live_server):
    issued = origin_client_create(origin=OriginFactory(), environment="staging")

    response = requests.post(f"{live_server.url}/api/v1/oauth2/token", timeout=30, data={
        "grant_type": "client_credentials", "scope": "events",
        "client_id": issued.client_id, "client_secret": issued.client_secret})

    assert response.status_code == 200 and response.json()["scope"] == "events"
    assert get_lead(live_server, response.json()["access_token"]).json()["error"] == "insufficient_scope"


def test_a_wrong_secret_or_an_unknown_client_gets_invalid_client(live_server):
    issued = origin_client_create(origin=OriginFactory(), environment="staging")

    for client_id, secret in ((issued.client_id, issued.client_secret[:-1]), ("nobody", issued.client_secret)):
        response = get_token(live_server, client_id, secret)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_the_secret_is_stored_hashed_and_tokens_only_as_checksums(live_server):
    issued = origin_client_create(origin=OriginFactory(), environment="staging")

    stored = get_application_model().objects.get(client_id=issued.client_id).client_secret
    assert stored != issued.client_secret and stored.startswith("pbkdf2_sha256$")
    assert issued.client_secret not in str(OriginApiClient.objects.get(pk=issued.client.pk))
    token = get_token(live_server, issued.client_id, issued.client_secret).json()["access_token"]
    assert AccessToken.objects.get(application__client_id=issued.client_id).token == ""  # a checksum only
    assert get_lead(live_server, token).status_code == 404  # and it still opens the API


def test_rotation_keeps_the_old_client_working_during_the_overlap_and_not_after(live_server):
    origin = OriginFactory()
    old = origin_client_create(origin=origin, environment="staging")
    old_token = get_token(live_server, old.client_id, old.client_secret).json()["access_token"]

    new = origin_client_create(origin=origin, environment="staging", overlap=timedelta(hours=1))

    # The overlap: both clients get tokens and both tokens open the API.
    for issued in (old, new):
        assert get_token(live_server, issued.client_id, issued.client_secret).status_code == 200
    assert get_lead(live_server, old_token).status_code == 404
    old_client = OriginApiClient.objects.get(pk=old.client.pk)
    assert old_client.retires_at is not None and old_client.is_active()
    assert OriginApiClient.objects.get(pk=new.client.pk).retires_at is None

    # After the overlap: the old client gets no token and its tokens are refused.
    OriginApiClient.objects.filter(pk=old.client.pk).update(retires_at=timezone.now() - timedelta(seconds=1))
    refused = get_token(live_server, old.client_id, old.client_secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert get_lead(live_server, old_token).json()["error"] == "client_retired"
    assert get_token(live_server, new.client_id, new.client_secret).status_code == 200


def test_clients_of_one_environment_do_not_retire_the_others(live_server):
    origin = OriginFactory()
    staging = origin_client_create(origin=origin, environment="staging")
    origin_client_create(origin=origin, environment="production")

    assert OriginApiClient.objects.get(pk=staging.client.pk).retires_at is None


def test_the_command_prints_one_json_object_whose_credentials_get_a_token(live_server):
    origin = OriginFactory(code="movilco")
    out = io.StringIO()

    call_command("origin_credentials", "movilco", "--environment", "staging", stdout=out)

    printed = json.loads(out.getvalue())
    assert set(printed) >= {"client_id", "client_secret"}
    assert OriginApiClient.objects.get(application__client_id=printed["client_id"]).origin == origin
    assert get_token(live_server, printed["client_id"], printed["client_secret"]).status_code == 200
