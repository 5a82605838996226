"""The postback admin pages, as a superuser sees them."""

import json

from django.urls import reverse

from apps.lenders.models import PostbackAuthFailure
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import PostbackData, postback_ingest
from tests.factories import LenderFactory


def test_a_postback_event_is_shown_read_only_with_its_raw_body_decoded(admin_client, lender, lead):
    payload = {"click_id": lead.tracking_id, "status": "approved", "reason": "Año fiscal"}
    raw_body = json.dumps(payload, ensure_ascii=False)
    event = postback_ingest(
        lender=lender, data=PostbackData(click_id=lead.tracking_id, status="approved", reason="Año fiscal"),
        raw_body=raw_body.encode(), headers={"X-Prosperas-Key": lender.postback_key}, source_ip="10.0.0.1",
    ).event

    listing = admin_client.get(reverse("admin:postbacks_postbackevent_changelist"), {"q": lead.tracking_id})
    detail = admin_client.get(reverse("admin:postbacks_postbackevent_change", args=[event.pk]))

    assert listing.status_code == 200
    assert lead.tracking_id in listing.content.decode()
    assert detail.status_code == 200
    assert "Año fiscal" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.get(reverse("admin:postbacks_postbackevent_add")).status_code == 403


def test_refusals_are_counted_per_lender_and_reason_for_staff(admin_client, db):
    lender = LenderFactory(code="acme-bank")
    for reason in ("bad_signature", "bad_signature", "stale_timestamp"):
        PostbackAuthFailure.objects.create(lender=lender, reason=reason, source_ip="10.0.0.1")
    PostbackAuthFailure.objects.create(lender=None, reason="unknown_key", source_ip="10.0.0.2")

    response = admin_client.get(reverse("admin:lenders_postbackauthfailure_changelist"))

    assert response.status_code == 200
    counts = {(row["lender__code"], row["reason"]): row["count"] for row in response.context["failure_counts"]}
    assert counts == {("acme-bank", "bad_signature"): 2, ("acme-bank", "stale_timestamp"): 1, (None, "unknown_key"): 1}
    assert "unknown key" in response.content.decode()


def test_the_event_filters_cover_lender_status_effect_and_repeat(admin_client, db):
    response = admin_client.get(reverse("admin:postbacks_postbackevent_changelist"),
                                {"status": "approved", "effect": "unmatched", "is_repeat__exact": "1"})
    assert response.status_code == 200
    assert not PostbackEvent.objects.exists()


def test_an_unmatched_event_shows_what_its_click_id_looks_like(admin_client, lender, lead):
    event = postback_ingest(
        lender=lender, data=PostbackData(click_id=lead.tracking_id.upper(), status="approved"),
        raw_body=b"{}", headers={}, source_ip=None,
    ).event

    detail = admin_client.get(reverse("admin:postbacks_postbackevent_change", args=[event.pk]))

    assert event.looks_like == "letter_case"
    assert "letter_case" in detail.content.decode()
