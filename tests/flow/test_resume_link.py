"""The result email's one-time link: opened in a browser that never saw the journey (a mail app,
another device), it reopens the journey there so the consumer can choose an offer and be handed
off; used once, expired, or for a finished journey it ends on the status page, which says why
(apps/leads/resume_links.py, apps/flow/resume_views.py)."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.leads.models import Lead, LeadEvent, LeadStatus, ResumeLink
from apps.leads.notifications import lead_status_notify
from apps.leads.resume_links import ResumeRefusal, resume_link_check, resume_link_create, resume_link_use
from apps.leads.revocation import consent_revoke
from tests.flow.conftest import LENDER_REDIRECT, PERSONAL_VALUES, Journey, approved

pytestmark = pytest.mark.django_db

EMAIL = "ana.perez@example.com"
LINK = re.compile(r"https?://[^\s\"<>]+/continue/[^/\s\"<>]+/")


def _text(response) -> str:
    return response.content.decode()


def _emailed(journey: Journey, decide=None) -> mail.EmailMessage:
    """The consumer leaves a slow wait asking for the answer by email; the lender then decides
    and the email goes out (what the task does)."""
    journey.start()
    journey.give_identity()
    journey.client.post(journey.url("result-email"), {"email": EMAIL})
    lead = journey.lender_decides(decide or approved("OF-001", "OF-002"))
    lead_status_notify(lead_id=lead.pk, status=lead.status)
    [message] = mail.outbox
    return message


def _links(message) -> tuple[str, str]:
    """The resume link of the text part and of the HTML part."""
    [text] = LINK.findall(message.body)
    [html] = set(LINK.findall(message.alternatives[0][0]))
    return text, html


def _path(url: str) -> str:
    return url.removeprefix(settings.SITE_URL)


def test_the_emailed_link_opened_in_a_fresh_browser_leads_to_the_offers_and_on_to_the_lender(journey):
    message = _emailed(journey)
    text_link, html_link = _links(message)
    assert text_link == html_link
    assert f"/j/{journey.lead.public_token}/status" in message.body  # the status link stays
    fresh = Journey(journey.shop, client=Client())
    fresh.lead = journey.lead
    assert fresh.client.get(fresh.url("decision")).status_code == 404  # the journey's pages need the link

    page = fresh.client.get(_path(text_link))  # what a mail scanner does too: it uses nothing up
    assert page.status_code == 200 and "Continuar mi solicitud" in _text(page)
    assert ResumeLink.objects.get().used_at is None
    response = fresh.client.post(_path(text_link))

    assert response.status_code == 303 and response["Location"] == fresh.url("decision")
    offers = _text(fresh.client.get(fresh.url("decision")))
    assert 'name="offer"' in offers
    assert fresh.choose_offer().status_code == 303
    assert fresh.give_details().status_code == 303
    fresh.lender_accepts_submission()
    assert fresh.client.get(fresh.url("handoff"))["Location"].startswith(LENDER_REDIRECT)
    assert Lead.objects.get(pk=journey.lead.pk).status == LeadStatus.HANDED_OFF
    assert journey.lead.events.filter(kind=LeadEvent.Kind.RESUMED).count() == 1


def test_a_second_use_elsewhere_ends_on_the_status_page_which_says_the_link_was_used(journey):
    link = _path(_links(_emailed(journey))[0])
    first = Client()
    first.post(link)

    second = Client()
    response = second.get(link, follow=True)

    assert response.redirect_chain == [(f"/j/{journey.lead.public_token}/status", 303)]
    assert "Este enlace ya se usó" in _text(response)
    assert second.post(link).status_code == 303
    assert second.get(f"/j/{journey.lead.public_token}/decision").status_code == 404  # still not this browser's
    assert journey.lead.events.filter(kind=LeadEvent.Kind.RESUMED).count() == 1
    # The browser that used it goes back to its journey, as it would from the email again.
    assert first.get(link)["Location"] == f"/j/{journey.lead.public_token}/decision"


def test_an_expired_link_ends_on_the_status_page_and_opens_nothing(journey):
    link = _path(_links(_emailed(journey))[0])
    ResumeLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = Client()

    response = fresh.post(link, follow=True)

    assert response.status_code == 200 and response.redirect_chain[-1][0].endswith("/status")
    assert "Este enlace venció" in _text(response)
    assert fresh.get(f"/j/{journey.lead.public_token}/decision").status_code == 404
    assert ResumeLink.objects.get().used_at is None


def test_a_link_to_a_journey_that_has_finished_ends_on_the_status_page(journey):
    link = _path(_links(_emailed(journey))[0])
    journey.choose_offer()
    journey.give_details()
    journey.lender_accepts_submission()
    journey.client.get(journey.url("handoff"))  # handed off in the browser it ran in

    response = Client().get(link, follow=True)

    assert "Tu solicitud ya terminó" in _text(response)
    assert response.redirect_chain[-1][0] == f"/j/{journey.lead.public_token}/status"


def test_after_a_revocation_the_link_says_the_journey_cannot_continue(journey):
    link = _path(_links(_emailed(journey))[0])
    consent_revoke(lead=journey.reload())

    response = Client().post(link, follow=True)

    assert "Revocaste tu autorización, así que esta solicitud no puede continuar" in _text(response)


def test_an_unknown_link_is_a_friendly_dead_end_not_an_error(db):
    response = Client().get("/continue/no-such-link/")

    assert response.status_code == 404 and "Este enlace ya venció" in _text(response)


def test_the_link_carries_only_a_random_token_and_the_database_only_its_digest(journey):
    message = _emailed(journey)
    link, _html = _links(message)
    lead = journey.reload()
    token = link.rstrip("/").rsplit("/", 1)[1]

    assert len(token) >= 40
    for value in (*PERSONAL_VALUES, lead.public_token, lead.tracking_id, EMAIL, "lead", f"/{lead.pk}/"):
        assert value not in link
    assert not ResumeLink.objects.filter(token_digest=token).exists()
    assert token not in str(list(ResumeLink.objects.values()))


def test_the_english_email_and_page_speak_english_in_a_browser_with_no_language_of_its_own(journey):
    journey.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    message = _emailed(journey)
    assert "Continue your application here" in message.body and "works once" in message.body
    assert "Continue my application</a>" in message.alternatives[0][0]
    fresh = Client()  # Accept-Language none: the site's default would be Spanish

    page = fresh.get(_path(_links(message)[0]))

    assert "Continue your application" in _text(page) and "It expires on" in _text(page)
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def test_a_decision_with_nothing_to_continue_is_emailed_without_the_link(journey):
    from apps.lenders.adapters.base import Decision as DecisionKind
    from apps.lenders.adapters.base import DecisionResult

    message = _emailed(journey, DecisionResult(decision=DecisionKind.REJECTED, reason="income"))

    assert not LINK.search(message.body) and not LINK.search(message.alternatives[0][0])
    assert f"/j/{journey.lead.public_token}/status" in message.body
    assert not ResumeLink.objects.exists()


def test_a_failed_decision_is_emailed_with_the_link_to_try_again(journey):
    journey.start()
    journey.give_identity()
    journey.client.post(journey.url("result-email"), {"email": EMAIL})
    lead = journey.lender_fails_to_decide()
    lead_status_notify(lead_id=lead.pk, status=LeadStatus.DECISION_FAILED)
    [message] = mail.outbox
    fresh = Client()

    fresh.post(_path(_links(message)[0]))

    assert fresh.post(journey.url("retry")).status_code == 303  # the journey's own "try again"


# --- The service ---------------------------------------------------------------------------------


def test_a_link_is_used_once_and_its_expiry_follows_the_setting(journey, settings):
    settings.FLOW_RESUME_LINK_HOURS = 2
    lead = journey.to_offered()
    token = resume_link_create(lead=lead)
    expires_at = ResumeLink.objects.get().expires_at
    assert timedelta(hours=1, minutes=59) < expires_at - timezone.now() <= timedelta(hours=2)

    assert resume_link_check(token=token).usable
    assert resume_link_use(token=token).lead == lead
    assert resume_link_use(token=token).refusal == ResumeRefusal.USED
    assert resume_link_check(token="x" + token).refusal == ResumeRefusal.UNKNOWN
    assert lead.events.filter(kind=LeadEvent.Kind.RESUMED).count() == 1


def test_staff_see_the_leads_links_and_their_use_in_admin_but_never_a_token(journey, client, django_user_model):
    lead = journey.to_offered()
    token = resume_link_create(lead=lead)
    resume_link_use(token=token)
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@prosperas.test", "pw-tests-only"))

    page = _text(client.get(f"/admin/leads/lead/{lead.pk}/change/"))

    assert "Resume links" in page and "Consumer reopened the journey from the emailed link" in page
    assert token not in page and ResumeLink.objects.get().token_digest not in page


def test_a_link_lifetime_under_an_hour_is_a_configuration_error(settings):
    from prosperas.checks import check_resume_link_hours

    settings.FLOW_RESUME_LINK_HOURS = 0
    assert [error.id for error in check_resume_link_hours(None)] == ["prosperas.E011"]
    settings.FLOW_RESUME_LINK_HOURS = 72
    assert check_resume_link_hours(None) == []
