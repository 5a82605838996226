"""Products in admin: staff edit directly; what lenders send waits as a revision that staff
approve or reject after reading the diff of what it changes."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from modeltranslation.admin import TranslationAdmin

from apps.products.models import DOCUMENT_TYPES, REGIONS, Product, ProductKind, ProductRevision
from apps.products.selectors import product_kind_choices, product_revision_diff
from apps.products.services import (
    ProductError,
    product_id_mint,
    product_revision_approve,
    product_revision_reject,
    product_state_move,
)


class ProductForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=product_kind_choices, help_text="Add kinds under Product kinds.")
    document_types = forms.MultipleChoiceField(
        choices=sorted(DOCUMENT_TYPES.items()), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to accept any document.",
    )
    regions = forms.MultipleChoiceField(
        choices=sorted(REGIONS.items(), key=lambda item: item[1]), required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}), help_text="Select none to lend in every region.",
    )

    logo_url = forms.URLField(assume_scheme="https", required=False, max_length=500,
                              help_text="The lender's logo (https).")

    class Meta:
        model = Product
        fields = "__all__"


class RevisionInline(admin.TabularInline):
    model = ProductRevision
    fields = ["created_at", "state", "decided_at", "decided_by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ProductKind)
class ProductKindAdmin(TranslationAdmin):
    list_display = ["code", "name"]


@admin.register(Product)
class ProductAdmin(TranslationAdmin):
    """The name is given per language (consumers read it in status emails); Spanish, the one
    lenders send, is required."""

    form = ProductForm
    list_display = ["product_id", "name", "lender", "kind", "state", "currency", "min_amount", "max_amount",
                    "pending_review"]
    list_filter = ["state", "kind", "currency", "lender"]
    search_fields = ["product_id", "name_es_co", "name_en", "lender__name", "lender__code", "lender_reference"]
    readonly_fields = ["product_id", "state", "went_live_at", "created_at", "updated_at"]
    list_select_related = ["lender"]
    inlines = [RevisionInline]
    actions = ["submit_for_review", "make_live", "retire", "back_to_draft"]
    fieldsets = [
        (None, {"fields": ["product_id", "lender", "lender_reference", "name", "kind", "state", "went_live_at"]}),
        ("Terms (rates are effective annual, E.A.)",
         {"fields": ["currency", "min_amount", "max_amount", "min_term_months", "max_term_months", "min_annual_rate",
                     "max_annual_rate", "apr", "opening_fee", "opening_fee_percent", "monthly_fee"]}),
        ("Eligibility", {"fields": ["min_monthly_income", "document_types", "min_age", "max_age", "regions"]}),
        ("Presentation", {"fields": ["disclosure", "logo_url", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Pending review", boolean=True)
    def pending_review(self, product: Product) -> bool:
        return product.revisions.filter(state=ProductRevision.State.PENDING).exists()

    def save_model(self, request, obj, form, change):
        if not obj.product_id:
            obj.product_id = product_id_mint(kind=obj.kind)
            obj.state = Product.State.DRAFT  # a new product is shown only once staff make it live
        super().save_model(request, obj, form, change)

    def _move(self, request, queryset, to: str) -> None:
        for product in queryset:
            try:
                product_state_move(product=product, to=to)
            except ProductError as error:
                self.message_user(request, f"{product.product_id}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{product.product_id} is now {Product.State(to).label.lower()}.")

    @admin.action(description="Submit for review")
    def submit_for_review(self, request, queryset):
        self._move(request, queryset, Product.State.IN_REVIEW)

    @admin.action(description="Approve and make live")
    def make_live(self, request, queryset):
        self._move(request, queryset, Product.State.LIVE)

    @admin.action(description="Retire")
    def retire(self, request, queryset):
        self._move(request, queryset, Product.State.RETIRED)

    @admin.action(description="Send back to draft")
    def back_to_draft(self, request, queryset):
        self._move(request, queryset, Product.State.DRAFT)


@admin.register(ProductRevision)
class ProductRevisionAdmin(admin.ModelAdmin):
    """A lender's proposed data: the diff against what consumers see now, and approve / reject."""

    list_display = ["product", "state", "created_at", "decided_at", "decided_by"]
    list_filter = ["state", "product__lender"]
    search_fields = ["product__product_id", "product__name_es_co"]
    list_select_related = ["product", "decided_by"]
    fields = ["product", "state", "created_at", "decided_at", "decided_by", "note", "diff"]
    readonly_fields = fields
    change_form_template = "admin/products/productrevision/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="What it changes")
    def diff(self, revision: ProductRevision) -> str:
        changes = product_revision_diff(revision)
        if not changes:
            return "Nothing: the proposal equals the current data."
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td><strong>{}</strong></td></tr>",
            ((change.label, _shown(change.current), _shown(change.proposed)) for change in changes),
        )
        return format_html(
            '<table class="product-diff"><thead><tr><th>Field</th><th>Now</th><th>Proposed</th></tr></thead>'
            "<tbody>{}</tbody></table>", rows,
        )

    def response_change(self, request, obj):
        """The change page's Approve / Reject buttons (see its template)."""
        if "_approve" in request.POST or "_reject" in request.POST:
            try:
                if "_approve" in request.POST:
                    product = product_revision_approve(revision=obj, user=request.user)
                    self.message_user(request, f"Approved: {product.product_id} now carries the proposed data.")
                else:
                    product_revision_reject(revision=obj, user=request.user, note=request.POST.get("_note", ""))
                    self.message_user(request, "Rejected; the lender's current data is unchanged.")
            except ProductError as error:
                self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:products_productrevision_change", args=[obj.pk]))
        return super().response_change(request, obj)


def _shown(value) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
