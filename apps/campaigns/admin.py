"""Staff run campaigns here: state, spend and budget from the ledger, pause / resume, the budget
alert, per-origin caps, the read-only ledger, and the funnel report (HTML and CSV)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.campaigns.catalog import listing_why_not_shown
from apps.campaigns.models import Campaign, CampaignOrigin, CampaignState, LedgerEntry
from apps.campaigns.selectors import (
    campaign_budget_alert,
    campaign_ledger_totals,
    campaign_state,
    campaign_state_q,
    campaigns_with_ledger_totals,
)
from apps.campaigns.services import (
    campaign_budget_alert_clear,
    campaign_pause,
    campaign_resume,
    campaign_totals_rebuild,
)
from apps.listings.models import Listing
from apps.origins.models import Origin
from apps.products.models import DOCUMENT_TYPES, REGIONS


class CampaignForm(forms.ModelForm):
    document_types = forms.MultipleChoiceField(
        choices=sorted(DOCUMENT_TYPES.items()), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to accept any document.",
    )
    regions = forms.MultipleChoiceField(
        choices=sorted(REGIONS.items(), key=lambda item: item[1]), required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}), help_text="Select none to deliver from every region.",
    )

    class Meta:
        model = Campaign
        fields = "__all__"


class CampaignStateFilter(admin.SimpleListFilter):
    """By the derived state, as the same conditions in SQL (campaign_state_q)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return CampaignState.choices

    def queryset(self, request, queryset):
        if self.value() in CampaignState.values:
            return queryset.filter(campaign_state_q(self.value()))
        return queryset


class CampaignOriginInline(admin.TabularInline):
    model = CampaignOrigin
    fields = ["origin", "daily_lead_cap", "total_lead_cap", "leads_delivered"]
    readonly_fields = ["leads_delivered"]
    extra = 1
    verbose_name_plural = "Origins shown to, with their own lead caps"


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "lender", "product", "state_badge", "priority", "weight", "spend", "budget_left",
                    "leads_today", "budget_alert_flag"]
    list_filter = [CampaignStateFilter, "lender", "origins"]
    search_fields = ["name", "product__product_id", "lender__code"]
    filter_horizontal = ["listings"]
    list_select_related = ["lender", "product"]
    date_hierarchy = "starts_at"
    inlines = [CampaignOriginInline]
    actions = ["pause_selected", "resume_selected", "clear_budget_alert", "rebuild_totals"]
    readonly_fields = ["state_badge", "ledger_summary", "spent", "leads_delivered", "budget_alerted_at"]
    fieldsets = [
        (None, {"fields": ["name", "lender", "product", "listings", "state_badge", "is_draft", "is_active"]}),
        ("Schedule and order (times in the marketplace's time zone)",
         {"fields": ["starts_at", "ends_at", "priority", "weight"]}),
        ("Budget and prices", {"fields": ["currency", "budget", "price_per_lead", "price_per_approved",
                                          "price_per_disbursed", "budget_alert_percent", "ledger_summary"]}),
        ("Caps over all origins", {"fields": ["daily_lead_cap", "total_lead_cap"]}),
        ("Delivery conditions (with the product's own eligibility)",
         {"fields": ["min_monthly_income", "min_requested_amount", "max_requested_amount", "document_types",
                     "min_age", "max_age", "regions"]}),
    ]

    def get_queryset(self, request):
        return campaigns_with_ledger_totals(super().get_queryset(request))

    def get_changeform_initial_data(self, request):
        """A new campaign starts as a draft, so nothing is shown before staff mean it to be."""
        return {"is_draft": True, "starts_at": timezone.now(), **super().get_changeform_initial_data(request)}

    # --- Columns ----------------------------------------------------------------------------

    @admin.display(description="State")
    def state_badge(self, campaign: Campaign) -> str:
        if campaign.pk is None:
            return "-"
        state = CampaignState(campaign_state(campaign))
        # Coloured by static/css/admin.css: the content security policy ignores style attributes.
        return format_html('<strong class="campaign-state--{}">{}</strong>', state.value, state.label)

    @admin.display(description="Spent", ordering="ledger_spent")
    def spend(self, campaign: Campaign) -> str:
        return f"{_money(campaign.ledger_spent)} {campaign.currency}"

    @admin.display(description="Budget left")
    def budget_left(self, campaign: Campaign) -> str:
        if campaign.budget is None:
            return "no limit"
        return f"{_money(campaign.budget - campaign.ledger_spent)} {campaign.currency}"

    @admin.display(description="Leads today", ordering="ledger_leads_today")
    def leads_today(self, campaign: Campaign) -> str:
        cap = f" / {campaign.daily_lead_cap}" if campaign.daily_lead_cap is not None else ""
        return f"{campaign.ledger_leads_today}{cap}"

    @admin.display(description="Budget alert")
    def budget_alert_flag(self, campaign: Campaign) -> str:
        if not campaign_budget_alert(campaign):
            return ""
        share = campaign.spent * 100 / campaign.budget
        return format_html('<strong class="admin-alert">⚠ {}% spent</strong>', f"{share:.0f}")

    @admin.display(description="From the ledger")
    def ledger_summary(self, campaign: Campaign) -> str:
        if campaign.pk is None:
            return "-"
        totals = campaign_ledger_totals(campaign)
        left = "no limit" if totals.budget_left is None else f"{_money(totals.budget_left)} {campaign.currency}"
        url = reverse("admin:campaigns_ledgerentry_changelist") + f"?campaign__id__exact={campaign.pk}"
        return format_html(
            "Spent {} {} · left {} · {} leads, {} today · <a href=\"{}\">ledger entries</a>",
            _money(totals.spent), campaign.currency, left, totals.leads, totals.leads_today, url,
        )

    # --- Actions ----------------------------------------------------------------------------

    @admin.action(description="Pause selected campaigns")
    def pause_selected(self, request, queryset):
        paused = sum(campaign_pause(campaign=campaign) for campaign in queryset)
        self.message_user(request, f"Paused {paused} campaign(s).", messages.SUCCESS)

    @admin.action(description="Resume selected campaigns")
    def resume_selected(self, request, queryset):
        resumed = sum(campaign_resume(campaign=campaign) for campaign in queryset)
        self.message_user(request, f"Resumed {resumed} campaign(s).", messages.SUCCESS)

    @admin.action(description="Clear the budget alert (after a top-up)")
    def clear_budget_alert(self, request, queryset):
        for campaign in queryset:
            campaign_budget_alert_clear(campaign=campaign)
        self.message_user(request, "Alerts cleared where the spend is now under the threshold.")

    @admin.action(description="Recount running totals from the ledger")
    def rebuild_totals(self, request, queryset):
        for campaign in queryset:
            check = campaign_totals_rebuild(campaign=campaign)
            level = messages.SUCCESS if check.matches else messages.WARNING
            self.message_user(request, f"{campaign}: {check.detail}.", level)

    # --- "Why is this listing shown or not", for staff ----------------------------------------

    def get_urls(self):
        why = path("why-not-shown/<int:listing_pk>/", self.admin_site.admin_view(self.why_not_shown_view),
                   name="campaigns_listing_why_not_shown")
        return [why, *super().get_urls()]

    def why_not_shown_view(self, request: HttpRequest, listing_pk: int) -> HttpResponse:
        """Linked from each listing's page: its campaigns checked by the delivery rules, per origin."""
        listing = Listing.objects.select_related("product").filter(pk=listing_pk).first()
        if listing is None:
            raise Http404
        if not request.user.has_perm("listings.view_listing"):
            return HttpResponse(status=403)
        form = OriginChoiceForm(request.GET or None)
        explanation = None
        if form.is_valid():
            explanation = listing_why_not_shown(listing=listing, origin=form.cleaned_data["origin"])
        context = {
            **self.admin_site.each_context(request), "title": f"Why “{listing.title}” is shown or not",
            "opts": Listing._meta, "original": listing, "form": form, "explanation": explanation,
        }
        return TemplateResponse(request, "admin/campaigns/listing/why_not_shown.html", context)


class OriginChoiceForm(forms.Form):
    origin = forms.ModelChoiceField(queryset=Origin.objects.order_by("name"), empty_label=None)


def _money(value) -> Decimal:
    """Two decimals, whatever scale the database's sum or default has."""
    return Decimal(value).quantize(Decimal("0.01"))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Append-only: staff read the ledger, nobody edits or deletes it here."""

    list_display = ["created_at", "campaign", "kind", "amount", "list_price", "currency", "lead", "origin"]
    list_filter = ["kind", "campaign", "origin", "day"]
    search_fields = ["lead__tracking_id", "campaign__name"]
    date_hierarchy = "created_at"
    list_select_related = ["campaign", "lead", "origin"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
