"""Product texts consumers read, per language (django-modeltranslation, settings.py): the product's
name (in the status emails) and a staff-added kind's name (on catalog cards). The Spanish column
holds what lenders send through the product data API (services.py writes it in Spanish)."""

from modeltranslation.translator import TranslationOptions, register

from apps.products.models import Product, ProductKind


@register(Product)
class ProductTranslationOptions(TranslationOptions):
    fields = ("name",)
    required_languages = {"es-co": ("name",)}


@register(ProductKind)
class ProductKindTranslationOptions(TranslationOptions):
    fields = ("name",)
    required_languages = {"es-co": ("name",)}
