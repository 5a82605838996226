from django.contrib import admin

from apps.campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "lender", "product", "starts_at", "ends_at", "is_active", "priority"]
    list_filter = ["is_active", "lender", "origins"]
    search_fields = ["name", "product__product_id", "lender__code"]
    filter_horizontal = ["listings", "origins"]
    list_select_related = ["lender", "product"]
    date_hierarchy = "starts_at"
