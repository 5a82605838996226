"""The lender-facing documentation page, and its signing examples run against a live server."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from django.urls import reverse

from apps.leads.models import Lead, LeadStatus
from apps.postbacks import contract, docs
from apps.postbacks.selectors import MANGLINGS
from prosperas.inbound import signing
from tests.factories import LeadFactory, LenderFactory

WORKED = docs.WORKED_EXAMPLE
COMMANDS = {
    "send_postback.py": [sys.executable],
    "send_postback.mjs": ["node"],
    "send_postback.sh": ["sh"],
}


def load_python_example():
    spec = importlib.util.spec_from_file_location("send_postback_example", docs.EXAMPLES_DIR / "send_postback.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_page_renders_the_contract_and_the_examples(client, db):
    response = client.get(reverse("postback_docs:postbacks"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "http://testserver/api/v1/postbacks" in page
    for field in ("click_id", "status", "event_id", "occurred_at", "product_id", "amount", "currency", "reason",
                  "lender_reference", "metadata"):
        assert f"<code>{field}</code>" in page
    for reason in contract.AUTH_FAILURE_MESSAGES:
        assert f"<code>{reason}</code>" in page
    for code in ("too_large", "unsupported_media_type", "validation_error", "unknown_click_id"):
        assert f"<code>{code}</code>" in page
    assert "createHmac" in page and "openssl dgst -sha256 -hmac" in page and "hmac.new" in page
    assert docs.worked_example()["signature"] in page


def test_the_docs_page_explains_the_tester_and_the_404_hints(client, db):
    page = client.get(reverse("postback_docs:postbacks")).content.decode()

    assert "http://testserver/api/v1/postbacks/test" in page
    assert "<code>not_a_staging_key</code>" in page
    assert "PROSPERAS_PATH=/api/v1/postbacks/test" in page
    for name, description in MANGLINGS.items():
        assert f"<code>{name}</code>" in page and description in page


def test_the_worked_example_signature_is_the_production_signature():
    expected = signing.signature(WORKED["secret"], WORKED["timestamp"], WORKED["nonce"], WORKED["body"].encode())
    assert docs.worked_example()["signature"] == expected


def test_the_python_example_signs_like_the_production_code():
    sign = load_python_example().sign
    body = WORKED["body"].encode()
    assert sign(WORKED["secret"], WORKED["timestamp"], WORKED["nonce"], body) == signing.signature(
        WORKED["secret"], WORKED["timestamp"], WORKED["nonce"], body
    )


def test_the_node_example_signs_like_the_production_code():
    script = (
        f"import {{ sign }} from {str(docs.EXAMPLES_DIR / 'send_postback.mjs')!r};"
        "const [secret, timestamp, nonce, body] = process.argv.slice(1);"
        "console.log(sign(secret, timestamp, nonce, Buffer.from(body, 'utf8')));"
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script, WORKED["secret"], WORKED["timestamp"], WORKED["nonce"],
         WORKED["body"]],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert result.stdout.strip() == docs.worked_example()["signature"]


@pytest.mark.parametrize("filename", list(COMMANDS))
def test_each_published_example_sends_a_postback_the_live_server_accepts(live_server, filename):
    assert shutil.which(COMMANDS[filename][0]), f"{COMMANDS[filename][0]} is needed to run {filename}"
    lender = LenderFactory()
    lead = LeadFactory(listing__product__lender=lender, tracking_id="claro_7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e")
    env = {**os.environ, "PROSPERAS_URL": live_server.url + "/", "PROSPERAS_KEY": lender.postback_key,
           "PROSPERAS_SECRET": lender.postback_secret}

    result = subprocess.run(
        [*COMMANDS[filename], str(docs.EXAMPLES_DIR / filename), lead.tracking_id, "approved"],
        env=env, capture_output=True, text=True, timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert "202" in result.stdout, result.stdout + result.stderr
    assert '"lead_status":"approved"' in result.stdout.replace(" ", "")
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.APPROVED


def test_the_contract_documents_the_rate_limits_in_force_and_the_429(client, settings):
    settings.LENDER_RATE_LIMITS = {"address": "1500/10s", "key": "90/m"}
    page = client.get(reverse("postback_docs:postbacks")).content.decode()
    assert "Rate limits" in page and "1500 per 10 seconds" in page and "90 per minute" in page
    assert "429" in page and "Retry-After" in page and "rate_limited" in page
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, method in (("/api/v1/postbacks", "post"), ("/api/v1/postbacks/test", "post"),
                         ("/api/v1/products", "post"), ("/api/v1/products/{product_id}", "put")):
        assert "Retry-After" in schema["paths"][path][method]["responses"]["429"]["description"]


def test_the_docs_page_publishes_our_egress_addresses_per_environment(client, db, settings):
    settings.EGRESS_IPS = {"staging": ["203.0.113.10"], "production": ["198.51.100.7", "198.51.100.8"]}
    html = client.get("/docs/postbacks/").content.decode()
    assert "<code>203.0.113.10</code>" in html and "<code>198.51.100.7</code>, <code>198.51.100.8</code>" in html
    assert "overlap window" in html
