from django.contrib import admin

from apps.listings.models import Listing
from apps.listings.services import listing_id_mint


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["listing_id", "title", "product", "is_active", "updated_at"]
    list_filter = ["is_active", "product__lender", "product__kind"]
    search_fields = ["listing_id", "title", "product__product_id", "product__name"]
    readonly_fields = ["listing_id", "created_at", "updated_at"]
    list_select_related = ["product"]

    def save_model(self, request, obj, form, change):
        if not obj.listing_id:
            obj.listing_id = listing_id_mint()
        super().save_model(request, obj, form, change)
