"""Lenders and their call log in the admin.

Secrets are never displayed: credentials are listed with masked values and edited through
write-only inputs (blank keeps the stored value); the postback secret likewise, with a rotation
that can keep the old secret valid until it is cleared.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from apps.lenders import services
from apps.lenders.adapters import ADAPTERS, adapter_class
from apps.lenders.adapters.base import AdapterConfigurationError
from apps.lenders.models import Lender, LenderCall
from prosperas.crypto import mask

CREDENTIAL_PREFIX = "credential__"


def declared_credential_names() -> list[str]:
    """Every credential name an adapter declares, so an add form offers the right inputs."""
    names: list[str] = []
    for key in ADAPTERS:
        try:
            names += [name for name in adapter_class(key).credential_names if name not in names]
        except (AdapterConfigurationError, ImportError):
            continue
    return names


def credential_names_for(lender: Lender | None) -> list[str]:
    stored = list((lender.credentials or {}) if lender is not None and lender.pk else {})
    declared = declared_credential_names()
    return declared + [name for name in stored if name not in declared]


def credential_fields_for(lender: Lender | None) -> dict[str, forms.Field]:
    """A write-only input per credential: the adapters' declared names and any stored one."""
    stored = dict(lender.credentials or {}) if lender is not None and lender.pk else {}
    return {
        CREDENTIAL_PREFIX + name: forms.CharField(
            label=f"Credential {name}", required=False, strip=True, widget=forms.PasswordInput(render_value=False),
            help_text=f"Write-only. Stored: {mask(str(stored[name])) if name in stored else '(not set)'}; blank keeps it.",
        )
        for name in credential_names_for(lender)
    }


def masked_credentials(credentials: dict) -> str:
    return ", ".join(f"{name}: {mask(str(value))}" for name, value in sorted((credentials or {}).items())) or "(none)"


class LenderAdminForm(forms.ModelForm):
    # Declared to pass assume_scheme: Django 5.2 warns about the default changing in 6.0.
    base_url = forms.URLField(
        max_length=500, assume_scheme="https", help_text=Lender._meta.get_field("base_url").help_text
    )
    postback_secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Blank keeps the current secret. HMAC secret, or the bearer API key in api_key mode.",
    )
    keep_previous_secret = forms.BooleanField(
        required=False, help_text="With a new secret: keep the current one valid too, until you clear it (rotation).",
    )
    clear_previous_secret = forms.BooleanField(required=False, help_text="End a rotation: the previous secret stops working.")
    credentials_remove = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Remove credentials",
    )

    class Meta:
        model = Lender
        # Secrets are set by lender_secrets_apply from the write-only inputs, never bound directly.
        exclude = ["credentials", "postback_secret", "postback_secret_previous"]

    new_credential_name = forms.SlugField(required=False, help_text="Add another credential by name.")
    new_credential_value = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = dict(self.instance.credentials or {}) if self.instance.pk else {}
        self.fields["credentials_remove"].choices = [(name, name) for name in sorted(stored)]
        if not self.instance.pk:
            self.fields["postback_secret"].help_text = "Write-only. Required for a new lender."

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("postback_secret"):
            self.add_error("postback_secret", "A new lender needs a postback secret.")
        if bool(cleaned.get("new_credential_name")) != bool(cleaned.get("new_credential_value")):
            self.add_error("new_credential_value", "Give both a name and a value, or neither.")
        return cleaned

    def credential_updates(self) -> dict[str, str]:
        updates = {
            name.removeprefix(CREDENTIAL_PREFIX): value
            for name, value in self.cleaned_data.items() if name.startswith(CREDENTIAL_PREFIX) and value
        }
        if self.cleaned_data.get("new_credential_name"):
            updates[self.cleaned_data["new_credential_name"]] = self.cleaned_data["new_credential_value"]
        return updates

    def save(self, commit: bool = True) -> Lender:
        lender = super().save(commit=False)
        services.lender_secrets_apply(
            lender=lender,
            credentials_updates=self.credential_updates(),
            credentials_remove=self.cleaned_data.get("credentials_remove") or [],
            postback_secret=self.cleaned_data.get("postback_secret") or "",
            keep_previous_secret=self.cleaned_data.get("keep_previous_secret", False),
            clear_previous_secret=self.cleaned_data.get("clear_previous_secret", False),
        )
        if commit:
            lender.save()
        return lender


@admin.register(Lender)
class LenderAdmin(admin.ModelAdmin):
    form = LenderAdminForm
    list_display = ["name", "code", "adapter", "environment", "is_active", "timeout_seconds", "max_retries"]
    list_filter = ["adapter", "environment", "is_active"]
    search_fields = ["code", "name"]
    readonly_fields = ["stored_credentials", "stored_postback_secrets", "recent_calls"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The credential inputs depend on the lender's adapter and stored keys: declared on a
        # subclass made per request, so the admin's fieldsets can name them.
        kwargs["form"] = type("LenderAdminForm", (LenderAdminForm,), credential_fields_for(obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        credential_fields = [CREDENTIAL_PREFIX + name for name in credential_names_for(obj)]
        return [
            (None, {"fields": ["code", "name", "adapter", "base_url", "environment", "is_active"]}),
            ("Calls", {"fields": ["timeout_seconds", "max_retries", *(["recent_calls"] if obj else [])]}),
            ("Credentials (write-only)", {
                "fields": ["stored_credentials", *credential_fields, "new_credential_name", "new_credential_value",
                           *(["credentials_remove"] if obj and obj.credentials else [])],
            }),
            ("Postbacks", {
                "fields": ["postback_auth", "postback_key", "stored_postback_secrets", "postback_secret",
                           "keep_previous_secret", "clear_previous_secret", "postback_ip_allowlist"],
            }),
        ]

    @admin.display(description="Stored credentials")
    def stored_credentials(self, obj: Lender) -> str:
        return masked_credentials(obj.credentials) if obj and obj.pk else "(none)"

    @admin.display(description="Stored postback secrets")
    def stored_postback_secrets(self, obj: Lender) -> str:
        if not (obj and obj.pk):
            return "(none)"
        current = f"current: {mask(obj.postback_secret)}"
        return current + (f"; previous (rotation): {mask(obj.postback_secret_previous)}" if obj.postback_secret_previous else "")

    @admin.display(description="Recent calls")
    def recent_calls(self, obj: Lender) -> str:
        calls = LenderCall.objects.filter(lender=obj).select_related("lead").order_by("-started_at")[:10]
        url = reverse("admin:lenders_lendercall_changelist") + f"?lender__id__exact={obj.pk}"
        rows = format_html_join(
            "", "<li>{} {} #{} {} {}</li>",
            ((c.started_at.strftime("%Y-%m-%d %H:%M:%S"), c.capability, c.attempt, c.outcome, c.http_status or "") for c in calls),
        )
        return format_html('<ul style="margin:0">{}</ul><a href="{}">All calls</a>', rows, url)


@admin.register(LenderCall)
class LenderCallAdmin(admin.ModelAdmin):
    """Every attempt at a lender, read-only; bodies are stored masked and truncated."""

    list_display = ["started_at", "lender", "tracking_id", "capability", "attempt", "outcome", "http_status", "duration_ms"]
    list_filter = ["lender", "capability", "outcome"]
    search_fields = ["=lead__tracking_id"]
    list_select_related = ["lender", "lead"]
    date_hierarchy = "started_at"
    fields = [
        "lender", "lead_link", "capability", "attempt", "outcome", "http_status", "error", "idempotency_key",
        "request_method", "request_url", "request_body_display", "response_body_display",
        "started_at", "finished_at", "duration_ms",
    ]
    readonly_fields = fields

    @admin.display(description="Tracking ID", ordering="lead__tracking_id")
    def tracking_id(self, obj: LenderCall) -> str:
        return obj.lead.tracking_id

    @admin.display(description="Lead")
    def lead_link(self, obj: LenderCall) -> str:
        try:
            url = reverse("admin:leads_lead_change", args=[obj.lead_id])
        except NoReverseMatch:  # the leads admin is not registered
            return obj.lead.tracking_id
        return format_html('<a href="{}">{}</a>', url, obj.lead.tracking_id)

    @admin.display(description="Request body (masked)")
    def request_body_display(self, obj: LenderCall) -> str:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', obj.request_body)

    @admin.display(description="Response body (masked)")
    def response_body_display(self, obj: LenderCall) -> str:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', obj.response_body)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
