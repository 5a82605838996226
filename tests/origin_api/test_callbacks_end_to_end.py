"""The origins' API end to end on real parts: a token over HTTP, a lead posted over HTTP, the
sandbox lender deciding in a real Celery worker, signed callbacks received by a loopback server
that verifies them with the `standardwebhooks` library, the offerUrl followed in headless
Chromium to the sandbox lender's portal with the exact click_id, a signed postback from there,
then the callback for `approved` and the same event in the feed."""

import re
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from apps.origin_api.callbacks import origin_webhook_set
from apps.origin_api.services import origin_client_create
from tests.conftest import start_worker, stop_worker
from tests.factories import LenderFactory, ListingFactory, OriginFactory, ProductFactory, publish
from tests.origin_api.conftest import PERSONAL_VALUES, lead_body
from tests.origin_api.receiver import CallbackReceiver

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
WAIT_MS = 30_000


@pytest.fixture
def worker_with_beat(broker_isolation, transactional_db):
    """A worker running beat too: an applied postback's follow-up (which tells the origin) is a
    periodic task, done off the lender's request."""
    process = start_worker(broker_isolation, name=f"testworker-{uuid.uuid4().hex[:6]}", beat=True)
    yield process
    stop_worker(process)


def _status_seen(status: str):
    return lambda payloads: any(p["type"] == "lead.status_changed" and p["data"]["status"] == status for p in payloads)


def test_token_lead_signed_callbacks_offer_url_in_the_browser_postback_and_the_feed(
    page: Page, live_server, worker_with_beat, screenshot
):
    origin = OriginFactory(code="billeteraya", name="Billetera Ya", prefix_tracking_ids=True)
    lender = LenderFactory(code="banco-sandbox", name="Banco Sandbox",
                           base_url=f"{live_server.url}/sandbox/embedded/banco-sandbox")
    publish(listing=ListingFactory(product=ProductFactory(lender=lender)), origin=origin)
    receiver = CallbackReceiver().start()
    try:
        receiver.secrets_known.append(
            origin_webhook_set(origin=origin, environment="staging", url=receiver.url).secret)
        issued = origin_client_create(origin=origin, environment="staging")
        token = requests.post(f"{live_server.url}/api/v1/oauth2/token", auth=(issued.client_id, issued.client_secret),
                              data={"grant_type": "client_credentials", "scope": "leads events"},
                              timeout=30).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        created = requests.post(f"{live_server.url}/api/v1/leads", json=lead_body("wallet-e2e"), headers=auth,
                                timeout=30)
        assert created.status_code == 201, created.text
        tracking_id = created.json()["trackingId"]

        payloads = receiver.wait_for(_status_seen("offers_found"), timeout=40)
        found = next(p for p in payloads if _status_seen("offers_found")([p]))["data"]
        offer = next(o for group in ("requested", "lower", "higher") for o in found["offers"][group])
        assert found["uuid"] == created.json()["uuid"] and found["trackingId"] == tracking_id

        # The offerUrl is built on SITE_URL; here the site is the live server.
        page.goto(live_server.url + urlsplit(offer["offerUrl"]).path)
        page.wait_for_url(re.compile(r"/sandbox/portal/banco-sandbox/sign\?"), timeout=WAIT_MS)
        assert page.locator("#click-id").text_content() == tracking_id
        screenshot("-lender-portal")
        query = dict(part.split("=", 1) for part in urlsplit(page.url).query.split("&"))
        assert (query["product_id"], query["listing_id"]) == (offer["productId"], offer["listingId"])

        page.locator("select").first.select_option("approved")
        page.get_by_role("button", name=re.compile("send postback", re.IGNORECASE)).click()
        expect(page.locator("#postback-result")).to_contain_text("202", timeout=10_000)

        payloads = receiver.wait_for(_status_seen("approved"), timeout=30)
        statuses = [p["data"]["status"] for p in payloads if p["type"] == "lead.status_changed"]
        assert {"offers_found", "product_selected", "approved"} <= set(statuses)
        assert len({item.headers["webhook-id"] for item in receiver.received}) == len(receiver.received)
        assert all(item.payload is not None for item in receiver.received)  # every callback verified
        everything = b"".join(item.body for item in receiver.received).decode()
        assert not any(value in everything for value in PERSONAL_VALUES)

        approved_id = next(item.headers["webhook-id"] for item in receiver.received
                           if item.payload["type"] == "lead.status_changed"
                           and item.payload["data"]["status"] == "approved")
        feed = requests.get(f"{live_server.url}/api/v1/events", headers=auth, params={"limit": 500}, timeout=30).json()
        served = [event["id"] for event in feed["events"]]
        assert approved_id in served and len(served) == len(set(served))
        assert {item.headers["webhook-id"] for item in receiver.received} <= set(served)  # the feed has them all
        assert feed["hasMore"] is False
    finally:
        receiver.stop()
