import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.lenders.models import Lender
from apps.sandbox import services
from prosperas.inbound import signing
from tests.factories import LenderFactory, ProductFactory


def test_the_annuity_payment_matches_the_textbook_formula_at_the_effective_annual_rate():
    # 5,000,000 at 28 % E.A. over 24 months: the monthly rate compounds to 28 % a year.
    rate = 1.28 ** (1 / 12) - 1
    expected = 5_000_000 * rate / (1 - (1 + rate) ** -24)
    assert abs(services.annuity_payment(Decimal("5000000"), Decimal("0.28"), 24) - Decimal(str(expected))) < Decimal("0.01")
    assert services.annuity_payment(Decimal("1200"), Decimal("0"), 12) == Decimal("100.00")


def test_the_present_value_inverts_the_payment():
    payment = services.annuity_payment(Decimal("5000000"), Decimal("0.28"), 24)
    assert abs(services.annuity_present_value(payment, Decimal("0.28"), 24) - Decimal("5000000")) < Decimal("1")


@pytest.mark.parametrize("income, rate", [(2_000_000, "0.3200"), (4_000_000, "0.2500"), (6_000_000, "0.1800")])
def test_the_rate_falls_as_income_rises(db, income, rate):
    product = ProductFactory()
    assert services.offer_rate(product, income) == Decimal(rate)


def test_a_small_income_gets_only_the_offers_it_can_afford(db):
    product = ProductFactory(min_amount=Decimal("3000000"))
    offers = services.sandbox_offers(product=product, income=1_300_000, requested_amount=None, offer_url="http://x/?r=1")
    assert offers and all(offer["amount"] >= 3_000_000 for offer in offers)
    assert len(offers) < 3  # the 6-month term cannot repay the minimum on 390,000 a month


class Capture(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Capture.received.append((dict(self.headers), body))
        answer = b'{"status": "accepted"}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def receiver():
    Capture.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/postbacks"
    server.shutdown()
    server.server_close()


def test_a_portal_postback_is_signed_with_the_lenders_secret_and_keeps_the_click_id(db, receiver):
    lender = LenderFactory()
    click_id = "movilco_3f2c+a/b=c&d é"
    answer = services.sandbox_postback_send(lender=lender, click_id=click_id, status="disbursed",
                                            product_id="ln_personal_01", url=receiver)
    assert (answer.status, answer.body) == (202, {"status": "accepted"})
    [(headers, raw)] = Capture.received
    body = json.loads(raw)
    assert body["click_id"] == click_id and body["status"] == "disbursed" and body["product_id"] == "ln_personal_01"
    assert body["event_id"].startswith("sbx-") and body["occurred_at"].endswith("+00:00")
    assert set(body) == {"click_id", "status", "event_id", "occurred_at", "product_id"}
    assert headers[signing.HEADER_KEY] == lender.postback_key
    expected = signing.signature(lender.postback_secret, headers[signing.HEADER_TIMESTAMP], headers[signing.HEADER_NONCE], raw)
    assert signing.signatures_match(expected, headers[signing.HEADER_SIGNATURE])


def test_a_bearer_key_lender_sends_its_key_instead_of_a_signature(db, receiver):
    lender = LenderFactory(postback_auth=Lender.PostbackAuth.API_KEY)
    services.sandbox_postback_send(lender=lender, click_id="c-1", status="approved", product_id="", url=receiver)
    [(headers, raw)] = Capture.received
    assert headers["Authorization"] == f"Bearer {lender.postback_secret}"
    assert "product_id" not in json.loads(raw)


def test_an_unreachable_endpoint_is_reported_not_raised(db):
    answer = services.sandbox_postback_send(lender=LenderFactory(), click_id="c", status="approved", product_id="",
                                            url="http://127.0.0.1:9/api/v1/postbacks")
    assert answer.status == 0 and "could not be sent" in answer.body["error"]
