"""GET /metrics: protected, and correct across processes (prometheus-client's multiprocess mode):
a lender call made by a Celery worker process and postbacks answered by a gunicorn process are
both in what that gunicorn process serves."""

import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from apps.leads.models import Lead, LeadStatus
from apps.leads.tasks import lender_prequalify
from prosperas.inbound import signing
from tests.factories import lead_awaiting_decision
from tests.operations.conftest import METRICS_TOKEN
from tests.postbacks.conftest import start_web_processes, stop_web_process
from tests.support import wait_until


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    )


def test_metrics_are_refused_without_the_token_or_an_allowed_address(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "right-token", []

    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Basic right-token"}).status_code == 403


@pytest.mark.django_db
def test_metrics_answer_the_token_or_an_allowed_network(client, settings):
    import ipaddress

    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "right-token", []
    with_token = client.get("/metrics", headers={"Authorization": "Bearer right-token"})
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", [ipaddress.ip_network("127.0.0.0/8")]
    from_network = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    from_elsewhere = client.get("/metrics", REMOTE_ADDR="10.1.2.3")

    assert (with_token.status_code, from_network.status_code, from_elsewhere.status_code) == (200, 200, 403)
    assert with_token["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_request_latency_is_counted_by_view(client, settings):
    settings.METRICS_TOKEN = "right-token"
    read = lambda: client.get("/metrics", headers={"Authorization": "Bearer right-token"}).content.decode()  # noqa: E731
    before = value(read(), "prosperas_http_request_duration_seconds_count", view="health-live", status="2xx")

    client.get("/health/live")
    client.get("/health/live")

    after = value(read(), "prosperas_http_request_duration_seconds_count", view="health-live", status="2xx")
    assert after - before == 2


@pytest.mark.django_db
def test_scrape_time_gauges_cover_queues_backlog_circuits_journeys_and_heartbeats(client, settings):
    settings.METRICS_TOKEN = "right-token"
    text = client.get("/metrics", headers={"Authorization": "Bearer right-token"}).content.decode()
    names = {family.name for family in text_string_to_metric_families(text)}

    assert {"prosperas_queue_depth", "prosperas_queue_oldest_task_age_seconds", "prosperas_tasks_unacknowledged",
            "prosperas_postback_follow_up_backlog", "prosperas_postback_follow_up_oldest_seconds",
            "prosperas_lender_circuit_state", "prosperas_journeys", "prosperas_heartbeat_age_seconds"} <= names


@pytest.fixture
def metrics_web(sandbox, broker_isolation):
    [web] = start_web_processes({**broker_isolation, "METRICS_TOKEN": METRICS_TOKEN},
                                names=[f"testweb-metrics-{uuid.uuid4().hex[:6]}"], threads=4)
    yield web
    stop_web_process(web)


@pytest.mark.worker
def test_a_lender_call_in_the_worker_and_postbacks_in_gunicorn_are_counted_together(sandbox, celery_worker, metrics_web):
    lender = sandbox.lender
    sandbox.script("500")  # one technical failure, then the answer: two attempts, one of them a retry
    lead = lead_awaiting_decision(lender=sandbox.lender)
    lender_prequalify.delay(lead_id=lead.pk, lender_id=lead.lender_id)
    wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.OFFERED)

    raw_body = f'{{"click_id": "{lead.tracking_id}", "status": "approved"}}'.encode()
    headers = signing.signed_headers(key=lender.postback_key, secret=lender.postback_secret, raw_body=raw_body)
    accepted = requests.post(metrics_web.url + "/api/v1/postbacks", data=raw_body, headers=headers, timeout=15)
    forged = signing.signed_headers(key=lender.postback_key, secret="not-the-secret", raw_body=raw_body)
    refused = requests.post(metrics_web.url + "/api/v1/postbacks", data=raw_body, headers=forged, timeout=15)
    assert (accepted.status_code, refused.status_code) == (202, 401), accepted.text

    text = requests.get(metrics_web.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                        timeout=15).text

    call = "prosperas_lender_call_duration_seconds_count"
    assert value(text, call, lender=lender.code, capability="prequalify", outcome="technical_failure") == 1
    assert value(text, call, lender=lender.code, capability="prequalify", outcome="approved") == 1
    assert value(text, "prosperas_lender_call_retries_total", lender=lender.code, capability="prequalify") == 1
    assert value(text, "prosperas_postbacks_total", lender=lender.code, outcome="accepted",
                 reason=accepted.json()["effect"]) == 1
    assert value(text, "prosperas_postbacks_total", lender=lender.code, outcome="refused", reason="bad_signature") == 1
    assert value(text, "prosperas_task_lag_seconds_count", queue="lender_calls",
                 task="apps.lenders.tasks.lender_prequalify") >= 2
    assert value(text, "prosperas_lender_circuit_state", lender=lender.code, state="closed") == 1
