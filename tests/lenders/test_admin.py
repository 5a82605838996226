"""Lender admin: secrets are never displayed and blank inputs keep them; postback secrets are issued by
the platform, never typed; the call log is read-only."""

from django.utils import timezone

from apps.lenders.models import Lender, LenderCall
from tests.factories import LeadFactory, LenderFactory

API_KEY = "sk_live_9f8e7d6c5b4a"
SECRET = "whsec_0123456789abcdef0123456789abcdef"


def form_data(lender: Lender, **changes) -> dict:
    data = {
        "code": lender.code, "name": lender.name, "adapter": lender.adapter, "base_url": lender.base_url,
        "environment": lender.environment, "is_active": "on", "timeout_seconds": lender.timeout_seconds,
        "max_retries": lender.max_retries, "pending_timeout_seconds": lender.pending_timeout_seconds,
        "postback_auth": lender.postback_auth, "postback_key": lender.postback_key,
        "postback_ip_allowlist": "", "credential__api_key": "", "new_credential_name": "", "new_credential_value": "",
    }
    data.update(changes)
    return data


def change_url(lender: Lender) -> str:
    return f"/admin/lenders/lender/{lender.pk}/change/"


def test_the_change_page_shows_secrets_masked_only(admin_client):
    lender = LenderFactory(credentials={"api_key": API_KEY}, postback_secret=SECRET)
    html = admin_client.get(change_url(lender)).content.decode()
    assert API_KEY not in html and SECRET not in html
    assert "api_key: ••••" in html and API_KEY[-4:] in html
    assert 'type="password" name="credential__api_key"' in html


def test_blank_secret_inputs_keep_the_stored_values(admin_client):
    lender = LenderFactory(credentials={"api_key": API_KEY}, postback_secret=SECRET)
    response = admin_client.post(change_url(lender), form_data(lender, name="Renamed"))
    assert response.status_code == 302, response.content.decode()[:2000]
    lender.refresh_from_db()
    assert (lender.name, lender.credentials, lender.postback_secret) == ("Renamed", {"api_key": API_KEY}, SECRET)


def test_staff_cannot_type_a_postback_secret_or_key(admin_client):
    lender = LenderFactory(credentials={"api_key": API_KEY}, postback_secret=SECRET)
    html = admin_client.get(change_url(lender)).content.decode()
    assert 'name="postback_secret' not in html and 'name="postback_key"' not in html
    admin_client.post(change_url(lender), form_data(
        lender, credential__api_key="sk_new", postback_secret="typed-by-staff", postback_key="pk_typed",
        new_credential_name="client_id", new_credential_value="cid-1",
    ))
    lender.refresh_from_db()
    assert lender.credentials == {"api_key": "sk_new", "client_id": "cid-1"}
    assert (lender.postback_secret, lender.postback_key) == (SECRET, lender.postback_key) and lender.postback_key != "pk_typed"


def test_issuing_a_secret_gives_staff_one_time_links_never_the_secret(admin_client):
    lender = LenderFactory(postback_secret=SECRET)
    response = admin_client.post("/admin/lenders/lender/", {
        "action": "postback_secret_issue", "_selected_action": [lender.pk]})
    html = response.content.decode()
    lender.refresh_from_db()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert lender.postback_secret != SECRET and lender.postback_secret not in html
    assert lender.postback_secret_previous == SECRET  # the overlap window
    assert "/partners/handover/" in html
    change_page = admin_client.get(change_url(lender)).content.decode()
    assert lender.postback_secret not in change_page and SECRET not in change_page
    assert "expiring" in change_page and "active" in change_page


def test_a_bearer_key_lender_gets_the_digest_of_its_key(admin_client):
    lender = LenderFactory(postback_secret=SECRET)
    admin_client.post(change_url(lender), form_data(lender, postback_auth="api_key"))
    lender.refresh_from_db()
    assert lender.postback_api_key_digest == Lender.api_key_digest(SECRET)


def test_a_new_lender_gets_a_platform_key_and_no_typed_secret(admin_client):
    page = admin_client.get("/admin/lenders/lender/add/")
    assert page.status_code == 200 and 'name="credential__api_key"' in page.content.decode()
    data = form_data(LenderFactory.build(code="new-lender"), credential__api_key=API_KEY)
    response = admin_client.post("/admin/lenders/lender/add/", {**data, "postback_secret": SECRET})
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Lender.objects.get(code="new-lender")
    assert created.credentials == {"api_key": API_KEY} and created.postback_secret == ""
    assert created.postback_key.startswith("pk_") and len(created.postback_key) > 20


def test_the_call_log_is_searchable_by_tracking_id_and_read_only(admin_client):
    lead = LeadFactory()
    call = LenderCall.objects.create(
        lender=lead.lender, lead=lead, capability="prequalify", attempt=1, idempotency_key="k",
        started_at=timezone.now(), outcome="technical_failure", request_body='{"documentNumber":"••••••••50"}',
    )
    listing = admin_client.get("/admin/lenders/lendercall/", {"q": lead.tracking_id}).content.decode()
    assert lead.tracking_id in listing and "technical_failure" in listing.replace("Technical failure", "technical_failure")
    detail = admin_client.get(f"/admin/lenders/lendercall/{call.pk}/change/")
    assert detail.status_code == 200 and "••••••••50" in detail.content.decode()
    assert admin_client.get("/admin/lenders/lendercall/add/").status_code == 403
    assert admin_client.post(f"/admin/lenders/lendercall/{call.pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_sandbox_knobs_page_documents_the_rules(admin_client):
    html = admin_client.get("/admin/sandbox/sandboxlendersettings/add/").content.decode()
    assert "1,200,000" in html and "failure script" in html.lower()
