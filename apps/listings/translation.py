"""What staff write per language for consumers (django-modeltranslation, settings.py): a column
per language (title_es_co, title_en, ...) read in the consumer's language, the Spanish one when
the English is empty."""

from modeltranslation.translator import TranslationOptions, register

from apps.listings.models import Listing


@register(Listing)
class ListingTranslationOptions(TranslationOptions):
    fields = ("title", "tagline", "highlights", "call_to_action")
    required_languages = {"es-co": ("title",)}
