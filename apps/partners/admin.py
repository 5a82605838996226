"""Staff invite a lender's people to the portal and see who belongs to which lender."""

from django import forms
from django.contrib import admin
from django.urls import reverse

from apps.partners.models import PartnerInvitation, PartnerMembership
from apps.partners.services import invitation_create


class InvitationForm(forms.ModelForm):
    class Meta:
        model = PartnerInvitation
        fields = ["email", "lenders"]


@admin.register(PartnerInvitation)
class PartnerInvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    list_display = ["email", "lender_names", "created_at", "expires_at", "accepted_at", "invited_by"]
    search_fields = ["email"]
    filter_horizontal = ["lenders"]
    readonly_fields = ["created_at", "expires_at", "accepted_at", "invited_by", "user"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["email", "lenders"] if obj else [])

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="Lenders")
    def lender_names(self, obj: PartnerInvitation) -> str:
        return ", ".join(f"{lender.code} ({lender.environment})" for lender in obj.lenders.all())

    def save_model(self, request, obj, form, change):
        """The invitation is made, and emailed, by the service: the token is in the email only."""
        made = invitation_create(
            email=form.cleaned_data["email"], lenders=list(form.cleaned_data["lenders"]), invited_by=request.user,
            accept_url_for=lambda token: request.build_absolute_uri(reverse("partners:invitation", args=[token])),
        )
        # The admin's own instance stands for the one made (its messages and redirect use it).
        obj.pk, obj.email, obj.token_digest = made.pk, made.email, made.token_digest
        obj.created_at, obj.expires_at, obj.invited_by = made.created_at, made.expires_at, made.invited_by
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """The service set the lenders already."""


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "lender", "created_at"]
    list_filter = ["lender"]
    search_fields = ["user__username", "lender__code"]
    autocomplete_fields = ["lender"]
    raw_id_fields = ["user"]
