"""The postback admin pages, as a superuser sees them."""

import json

from django.urls import reverse

from apps.lenders.models import PostbackAuthFailure
from apps.lenders.signed_requests import refusal_record
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
    body = b'{"click_id": "abc", "status": "approved", "metadata": {"email": "ana@example.com"}}'
    headers = {"X-Prosperas-Key": lender.postback_key, "X-Prosperas-Signature": "f" * 64}
    for reason, address in (("bad_signature", "10.0.0.1"), ("bad_signature", "10.0.0.1"),
                            ("bad_signature", "10.0.0.3"), ("stale_timestamp", "10.0.0.1")):
        refusal_record(lender=lender, reason=reason, source_ip=address, key=lender.postback_key, headers=headers,
                       raw_body=body)
    refusal_record(lender=None, reason="unknown_key", source_ip="10.0.0.2", key="pk_made_up")

    response = admin_client.get(reverse("admin:lenders_postbackauthfailure_changelist"))

    assert response.status_code == 200
    counts = {(row["lender__code"], row["reason"]): row["count"] for row in response.context["failure_counts"]}
    assert counts == {("acme-bank", "bad_signature"): 3, ("acme-bank", "stale_timestamp"): 1, (None, "unknown_key"): 1}
    assert "unknown key" in response.content.decode()
    row = PostbackAuthFailure.objects.get(reason="bad_signature", source_ip="10.0.0.1")
    assert row.count == 2 and row.key == lender.postback_key and len(row.samples) == 2
    detail = admin_client.get(reverse("admin:lenders_postbackauthfailure_change", args=[row.pk])).content.decode()
    assert "click_id" in detail and "ana@example.com" not in detail  # the sample's body, masked
    assert "f" * 64 not in detail  # the signature is a credential: never kept


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
