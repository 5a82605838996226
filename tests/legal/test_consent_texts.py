"""Consent texts as content (apps.legal.ConsentText): the first versions published by migration,
drafts published by version in admin, a published text immutable down to the database, and the
origins' API accepting only published versions."""

import datetime

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.legal.models import ConsentText, PublishedTextImmutable
from apps.legal.selectors import consent_text_current, consent_version_published_on, consent_versions_published
from apps.legal.services import ConsentVersionError, consent_version_publish
from apps.origin_api.serializers import ConsentSerializer

pytestmark = pytest.mark.django_db

LABELS = {"terms_label": "Acepto.", "privacy_label": "Leí.", "data_processing_label": "Autorizo.",
          "sharing": "Tus datos van a..."}


def draft(version: str, *, languages=("es", "en"), modes=("single", "compare")) -> list[ConsentText]:
    return [ConsentText.objects.create(version=version, language=language, mode=mode, **LABELS)
            for language in languages for mode in modes]


def test_the_migration_published_the_former_constants_and_a_compare_text_that_names_what_it_does():
    assert consent_versions_published() == ["2026-12-03", "2026-11-01"]
    first = ConsentText.objects.get(version="2026-11-01", language="es", mode="compare")
    # What compare journeys saw before texts were data: the single-lender sentence, kept as it was.
    assert first.sharing == "Tus datos viajan cifrados y solo se comparten con la entidad que elegiste."
    compare_es = consent_text_current(language="es", compare_mode=True)
    compare_en = consent_text_current(language="en", compare_mode=True)
    assert compare_es.version == compare_en.version == "2026-12-03"
    assert "a cada una de las entidades de esta lista" in compare_es.sharing
    assert "to every lender on this list" in compare_en.sharing
    assert "each lender" not in consent_text_current(language="en", compare_mode=False).sharing
    assert consent_text_current(language="fr", compare_mode=False).language == "es"  # falls back to Spanish
    assert consent_version_published_on("2026-11-01") == datetime.date(2026, 11, 1)


def test_a_version_is_published_whole_for_every_language_and_mode():
    draft("2027-01", languages=("es",))
    with pytest.raises(ConsentVersionError, match="en/single, en/compare"):
        consent_version_publish(version="2027-01")
    assert consent_version_published_on("2027-01") is None

    draft("2027-01", languages=("en",))
    assert consent_version_publish(version="2027-01") == 4
    assert consent_text_current(language="en", compare_mode=True).version == "2027-01"
    with pytest.raises(ConsentVersionError, match="already published"):
        consent_version_publish(version="2027-01")


def test_a_draft_can_be_edited_and_a_published_text_never_changes_even_by_sql():
    text = draft("2027-02")[0]
    text.sharing = "Corrected before publishing."
    text.save()
    consent_version_publish(version="2027-02")
    text.refresh_from_db()

    text.sharing = "Rewritten after publishing."
    with pytest.raises(PublishedTextImmutable):
        text.save()
    with pytest.raises(PublishedTextImmutable):
        text.delete()
    with pytest.raises(DatabaseError, match="is published"), transaction.atomic():
        ConsentText.objects.filter(pk=text.pk).update(sharing="Rewritten by hand.")
    with pytest.raises(DatabaseError, match="is published"), transaction.atomic():
        ConsentText.objects.filter(pk=text.pk).delete()
    assert ConsentText.objects.get(pk=text.pk).sharing == "Corrected before publishing."


def test_staff_publish_a_version_from_admin_and_published_texts_are_read_only_there(admin_client):
    rows = draft("2027-03")
    response = admin_client.post("/admin/legal/consenttext/", {
        "action": "publish_versions", "_selected_action": [rows[0].pk]}, follow=True)
    assert "Version 2027-03 published (4 texts)." in response.content.decode()
    page = admin_client.get(f"/admin/legal/consenttext/{rows[0].pk}/change/").content.decode()
    assert 'name="sharing"' not in page  # no input: read-only
    assert admin_client.post(f"/admin/legal/consenttext/{rows[0].pk}/delete/").status_code == 403


def _attestation(version: str, accepted_at=None) -> dict:
    return {"textVersion": version, "acceptedAt": (accepted_at or timezone.now()).isoformat(),
            "kinds": ["terms", "privacy", "data_processing"]}


def test_the_origins_api_accepts_only_published_versions_and_not_before_their_publication():
    draft("2027-04")
    assert ConsentSerializer(data=_attestation("2026-12-03")).is_valid()

    unknown = ConsentSerializer(data=_attestation("2027-04"))  # a draft: not published yet
    assert not unknown.is_valid()
    assert unknown.errors["textVersion"][0].code == "unknown_version"
    assert "2026-12-03, 2026-11-01" in str(unknown.errors["textVersion"][0])

    early = ConsentSerializer(data=_attestation("2026-12-03", timezone.now() - datetime.timedelta(days=60)))
    assert not early.is_valid()
    assert early.errors["acceptedAt"][0].code == "before_publication"

    consent_version_publish(version="2027-04")
    assert ConsentSerializer(data=_attestation("2027-04")).is_valid()
