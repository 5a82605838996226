import datetime

from django.utils import timezone

from apps.legal.models import ConsentText, DataController

DEFAULT_LANGUAGE = ConsentText.Language.SPANISH


def data_controller_get() -> DataController | None:
    """The controller staff set in admin (Legal › Data controller); None until they do."""
    return DataController.objects.filter(pk=1).first()


def consent_text_current(*, language: str, compare_mode: bool) -> ConsentText | None:
    """The latest published consent text for a journey in `language` ("es", "en"; another falls
    back to Spanish) and mode: what the consent step shows now."""
    if language not in ConsentText.Language.values:
        language = DEFAULT_LANGUAGE
    mode = ConsentText.Mode.COMPARE if compare_mode else ConsentText.Mode.SINGLE
    return (ConsentText.objects.filter(language=language, mode=mode, published_at__isnull=False)
            .order_by("-published_at", "-id").first())


def consent_text_published(*, pk: object, language: str, compare_mode: bool) -> ConsentText | None:
    """The published text `pk` when it fits a journey of that language and mode, else None: what
    the consent step's form says it showed, checked before it is recorded."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    mode = ConsentText.Mode.COMPARE if compare_mode else ConsentText.Mode.SINGLE
    return ConsentText.objects.filter(pk=pk, language=language, mode=mode, published_at__isnull=False).first()


def consent_text_for_version(*, version: str, language: str, compare_mode: bool) -> ConsentText | None:
    """The published row of `version` for that language and mode (origins name a version only)."""
    if language not in ConsentText.Language.values:
        language = DEFAULT_LANGUAGE
    mode = ConsentText.Mode.COMPARE if compare_mode else ConsentText.Mode.SINGLE
    return ConsentText.objects.filter(version=version, language=language, mode=mode,
                                      published_at__isnull=False).first()


def consent_version_published_on(version: str) -> datetime.date | None:
    """The day `version` was published (in the platform's time zone), or None when it never was."""
    published = (ConsentText.objects.filter(version=version, published_at__isnull=False)
                 .order_by("published_at").values_list("published_at", flat=True).first())
    return timezone.localdate(published) if published else None


def consent_versions_published() -> list[str]:
    """Every published version, newest first."""
    versions = (ConsentText.objects.filter(published_at__isnull=False).order_by("-published_at")
                .values_list("version", flat=True))
    return list(dict.fromkeys(versions))
