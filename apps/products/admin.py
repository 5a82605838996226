from django.contrib import admin

from apps.products.models import Product
from apps.products.services import product_id_mint


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["product_id", "name", "lender", "kind", "currency", "min_amount", "max_amount", "is_active"]
    list_filter = ["kind", "currency", "is_active", "lender"]
    search_fields = ["product_id", "name", "lender__name", "lender__code"]
    readonly_fields = ["product_id", "created_at", "updated_at"]
    list_select_related = ["lender"]

    def save_model(self, request, obj, form, change):
        if not obj.product_id:
            obj.product_id = product_id_mint(kind=obj.kind)
        super().save_model(request, obj, form, change)
