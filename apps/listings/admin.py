"""Listings in admin, with their representative example and the "why not shown" explainer (served by the campaigns admin: it applies the campaigns' rules)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from modeltranslation.admin import TranslationAdmin

from apps.listings.models import Listing
from apps.listings.services import listing_id_mint


@admin.register(Listing)
class ListingAdmin(TranslationAdmin):
    """Texts consumers read (title, tagline, highlights, button) once per language; Spanish is
    required and stands in for an English text left empty."""

    list_display = ["listing_id", "title", "product", "is_active", "updated_at"]
    list_filter = ["is_active", "product__lender", "product__kind"]
    search_fields = ["listing_id", "title_es_co", "title_en", "product__product_id", "product__name_es_co"]
    readonly_fields = ["listing_id", "example", "why_link", "created_at", "updated_at"]
    list_select_related = ["product"]
    fields = ["listing_id", "product", "title", "tagline", "highlights", "call_to_action", "example_amount",
              "example_term_months", "example", "is_active", "why_link", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not obj.listing_id:
            obj.listing_id = listing_id_mint()
        super().save_model(request, obj, form, change)

    @admin.display(description="Representative example")
    def example(self, listing: Listing) -> str:
        if listing.pk is None:
            return "Shown once saved."
        example = listing.representative_example
        return format_html(
            "{} {} over {} months at {}% E.A.: {} {} a month, {} {} to repay in all (fees {} {}).",
            example.amount, example.currency, example.term_months, example.annual_rate * 100,
            example.monthly_payment, example.currency, example.total_to_repay, example.currency,
            example.upfront_fees, example.currency,
        )

    @admin.display(description="Catalog")
    def why_link(self, listing: Listing) -> str:
        if listing.pk is None:
            return "-"
        url = reverse("admin:campaigns_listing_why_not_shown", args=[listing.pk])
        return format_html('<a href="{}">Why is it shown or not, per origin?</a>', url)
