"""Listings in admin, with their representative example and the "why not shown" explainer."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.listings.models import Listing
from apps.listings.selectors import listing_why_not_shown
from apps.listings.services import listing_id_mint
from apps.origins.models import Origin


class OriginChoiceForm(forms.Form):
    origin = forms.ModelChoiceField(queryset=Origin.objects.order_by("name"), empty_label=None)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["listing_id", "title", "product", "is_active", "updated_at"]
    list_filter = ["is_active", "product__lender", "product__kind"]
    search_fields = ["listing_id", "title", "product__product_id", "product__name"]
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
        url = reverse("admin:listings_listing_why_not_shown", args=[listing.pk])
        return format_html('<a href="{}">Why is it shown or not, per origin?</a>', url)

    def get_urls(self):
        why = path("<int:listing_pk>/why-not-shown/", self.admin_site.admin_view(self.why_not_shown_view),
                   name="listings_listing_why_not_shown")
        return [why, *super().get_urls()]

    def why_not_shown_view(self, request: HttpRequest, listing_pk: int) -> HttpResponse:
        listing = Listing.objects.select_related("product").filter(pk=listing_pk).first()
        if listing is None:
            raise Http404
        if not self.has_view_permission(request, listing):
            return HttpResponse(status=403)
        form = OriginChoiceForm(request.GET or None)
        explanation = None
        if form.is_valid():
            explanation = listing_why_not_shown(listing=listing, origin=form.cleaned_data["origin"])
        context = {
            **self.admin_site.each_context(request), "title": f"Why “{listing.title}” is shown or not",
            "opts": self.model._meta, "original": listing, "form": form, "explanation": explanation,
        }
        return TemplateResponse(request, "admin/listings/listing/why_not_shown.html", context)
