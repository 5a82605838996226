"""Lenders and their call log in the admin.

Secrets are never displayed: credentials are listed with masked values and edited through
write-only inputs (blank keeps the stored value); the postback secret likewise, with a rotation
that can keep the old secret valid until it is cleared.

Staff also see each lender's circuit breaker and can force it either way (actions), its call
statistics against the 5 s target (the "Call statistics" page), its callback URL, and, for a
mapped JSON lender, the API description (validated on save) with a dry run against a staging
or sandbox API that shows the request sent and the answer as parsed.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.apps import apps as django_apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.lenders import selectors
from apps.lenders.circuit import lender_circuit_force
from apps.lenders.config import lender_callback_url
from apps.lenders.tools import lender_dry_run, lender_secrets_apply
from apps.lenders.adapters import ADAPTERS, adapter_class
from apps.lenders.adapters.base import AdapterConfigurationError
from apps.lenders.adapters.mapped_spec import PLACEHOLDERS
from apps.lenders.masking import mask_text
from apps.lenders.models import CircuitState, Lender, LenderCall, MappedApi
from prosperas.crypto import mask

STATS_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}

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
        lender_secrets_apply(
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


class MappedApiInline(admin.StackedInline):
    """The API description of a mapped JSON lender; MappedApi.clean validates it on save."""

    model = MappedApi
    extra = 0
    max_num = 1
    can_delete = True
    fieldsets = [
        ("Authentication", {"fields": ["auth", "api_key_header", "hmac_header_prefix", "unwrap_data"]}),
        ("Decision (prequalify)", {
            "fields": ["prequalify_path", "prequalify_template", "tracking_id_path", "decision_path", "approved_values",
                       "rejected_values", "pending_values", "reason_code_path", "reason_text_path", "reason_categories",
                       "reference_path", "poll_path"],
            "description": "Placeholders: " + ", ".join("{{%s}}" % name for name in PLACEHOLDERS),
        }),
        ("Offers", {"fields": ["offers_path", "offer_id_path", "offer_amount_path", "offer_term_path",
                               "offer_payment_path", "offer_rate_path", "offer_url_path"]}),
        ("Errors (400/422)", {"fields": ["errors_path", "error_field_path", "error_message_path"]}),
        ("Submission (blank path: the offer URL is the redirect)", {
            "fields": ["submit_path", "submit_template", "submit_status_path", "submit_redirect_path"]}),
    ]


# Inlines written by hand for a style's configuration model; any other gets a plain one.
OPTIONS_INLINES: dict[str, type[admin.StackedInline]] = {"lenders.MappedApi": MappedApiInline}


def options_inline(model_label: str) -> type[admin.StackedInline]:
    if model_label not in OPTIONS_INLINES:
        model = django_apps.get_model(model_label)
        OPTIONS_INLINES[model_label] = type(f"{model.__name__}Inline", (admin.StackedInline,),
                                            {"model": model, "extra": 0, "max_num": 1})
    return OPTIONS_INLINES[model_label]


@admin.register(Lender)
class LenderAdmin(admin.ModelAdmin):
    form = LenderAdminForm
    list_display = ["name", "code", "adapter", "environment", "is_active", "circuit", "calls_24h", "technical_24h",
                    "timeout_seconds", "max_retries"]
    list_filter = ["adapter", "environment", "is_active", "circuit_state"]
    search_fields = ["code", "name"]
    readonly_fields = ["stored_credentials", "stored_postback_secrets", "recent_calls", "callback_url", "circuit_state",
                       "circuit_changed_at", "circuit_note", "circuit_held_open", "tools"]
    actions = ["force_circuit_open", "force_circuit_closed"]
    change_list_template = "admin/lenders/lender/change_list.html"

    def get_inlines(self, request, obj):
        """The style's own configuration (its adapter's `options_model`), inline on the lender."""
        if obj is None or obj.adapter not in ADAPTERS:
            return []
        label = adapter_class(obj.adapter).options_model
        return [options_inline(label)] if label else []

    def get_queryset(self, request):
        since = timezone.now() - STATS_WINDOWS["24h"]
        recent = Q(calls__started_at__gte=since, calls__capability__in=selectors.OUTBOUND_CAPABILITIES)
        return super().get_queryset(request).annotate(
            calls_recent=Count("calls", filter=recent),
            technical_recent=Count("calls", filter=recent & Q(calls__outcome=LenderCall.Outcome.TECHNICAL_FAILURE)),
        )

    @admin.display(description="Circuit", ordering="circuit_state")
    def circuit(self, obj: Lender) -> str:
        held = " (held by staff)" if obj.circuit_held_open else ""
        # Coloured by static/css/admin.css: the content security policy ignores style attributes.
        return format_html('<b class="circuit--{}">{}</b>{}', obj.circuit_state, obj.circuit_state, held)

    @admin.display(description="Calls 24 h", ordering="calls_recent")
    def calls_24h(self, obj: Lender) -> int:
        return obj.calls_recent

    @admin.display(description="Technical failures 24 h")
    def technical_24h(self, obj: Lender) -> str:
        return f"{obj.technical_recent / obj.calls_recent:.0%}" if obj.calls_recent else "–"

    @admin.display(description="Callback URL (give it to the lender)")
    def callback_url(self, obj: Lender) -> str:
        return lender_callback_url(obj) if obj and obj.pk else "(after saving)"

    @admin.display(description="Tools")
    def tools(self, obj: Lender) -> str:
        if not (obj and obj.pk):
            return "–"
        stats = reverse("admin:lenders_lender_stats") + f"?lender={obj.pk}"
        if obj.environment != Lender.Environment.STAGING:
            return format_html('<a href="{}">Call statistics</a> · dry runs are for staging lenders only', stats)
        return format_html('<a href="{}">Dry run (prequalify with made-up data)</a> · <a href="{}">Call statistics</a>',
                           reverse("admin:lenders_lender_dry_run", args=[obj.pk]), stats)

    @admin.action(description="Force the circuit OPEN (stop calling; probes will not close it)")
    def force_circuit_open(self, request, queryset):
        for lender in queryset:
            lender_circuit_force(lender=lender, state=CircuitState.OPEN)
        self.message_user(request, f"{queryset.count()} circuit(s) forced open.", messages.WARNING)

    @admin.action(description="Force the circuit CLOSED (call again)")
    def force_circuit_closed(self, request, queryset):
        for lender in queryset:
            lender_circuit_force(lender=lender, state=CircuitState.CLOSED)
        self.message_user(request, f"{queryset.count()} circuit(s) closed.", messages.SUCCESS)

    def get_urls(self):
        return [
            path("stats/", self.admin_site.admin_view(self.stats_view), name="lenders_lender_stats"),
            path("<int:pk>/dry-run/", self.admin_site.admin_view(self.dry_run_view), name="lenders_lender_dry_run"),
            *super().get_urls(),
        ]

    def stats_view(self, request):
        """Per lender: calls, p50/p95 latency against the 5 s target, rates by outcome."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        window = request.GET.get("window", "24h")
        since = timezone.now() - STATS_WINDOWS.get(window, STATS_WINDOWS["24h"])
        lender_ids = [int(request.GET["lender"])] if request.GET.get("lender", "").isdigit() else None
        rows = selectors.lender_call_stats(since=since, lender_ids=lender_ids)
        outcomes = [choice for choice in LenderCall.Outcome.choices if choice[0] != LenderCall.Outcome.IN_FLIGHT]
        table = [
            {"stats": row, "rates": [f"{row.rate(value):.0%}" if row.calls else "–" for value, _ in outcomes],
             "error_rate": f"{row.error_rate:.0%}" if row.calls else "–"}
            for row in rows
        ]
        context = {**self.admin_site.each_context(request), "title": "Lender call statistics", "rows": table,
                   "outcomes": [label for _, label in outcomes], "window": window, "windows": list(STATS_WINDOWS),
                   "target_ms": selectors.LATENCY_TARGET_MS, "opts": self.model._meta}
        return TemplateResponse(request, "admin/lenders/lender/stats.html", context)

    def dry_run_view(self, request, pk: int):
        """One prequalify with made-up data against a staging lender; nothing is stored."""
        lender = get_object_or_404(Lender, pk=pk)
        if not self.has_change_permission(request, lender):
            raise PermissionDenied
        run = lender_dry_run(lender=lender) if request.method == "POST" else None
        exchanges = [
            {"method": e.method, "url": e.url, "headers": json.dumps(e.request_headers, indent=2),
             "body": _pretty(mask_text(e.request_body)), "status": e.status, "error": e.error,
             "response": _pretty(mask_text(e.response_body)), "duration_ms": e.duration_ms}
            for e in (run.exchanges if run else [])
        ]
        context = {**self.admin_site.each_context(request), "title": f"Dry run: {lender}", "lender": lender, "run": run,
                   "exchanges": exchanges, "result": _result_display(run.result) if run and run.result else None,
                   "opts": self.model._meta, "original": lender}
        return TemplateResponse(request, "admin/lenders/lender/dry_run.html", context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The credential inputs depend on the lender's adapter and stored keys: declared on a
        # subclass made per request, so the admin's fieldsets can name them.
        kwargs["form"] = type("LenderAdminForm", (LenderAdminForm,), credential_fields_for(obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        credential_fields = [CREDENTIAL_PREFIX + name for name in credential_names_for(obj)]
        return [
            (None, {"fields": ["code", "name", "adapter", "base_url", "environment", "is_active",
                               "privacy_contact_email", *(["tools"] if obj else [])]}),
            ("Calls", {"fields": ["timeout_seconds", "max_retries", "pending_timeout_seconds",
                                  *(["callback_url", "recent_calls"] if obj else [])]}),
            ("Circuit breaker", {"fields": ["circuit_state", "circuit_changed_at", "circuit_note", "circuit_held_open"],
                                 "description": "Open: the lender is not called, its listings leave the catalog and "
                                                "compare mode skips it. Use the list's actions to force it either way."}),
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
        return format_html('<ul class="admin-plain-list">{}</ul><a href="{}">All calls</a>', rows, url)


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _result_display(result) -> dict:
    return {
        "decision": str(result.decision), "reason": result.reason, "category": result.reason_category,
        "lender_reference": result.lender_reference,
        "offers": [{"id": o.lender_offer_id, "amount": o.amount, "term": o.term_months, "payment": o.monthly_payment,
                    "rate": o.annual_rate, "apr": o.apr, "url": o.url} for o in result.offers],
    }


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
        return format_html('<pre class="admin-pre-wrap">{}</pre>', obj.request_body)

    @admin.display(description="Response body (masked)")
    def response_body_display(self, obj: LenderCall) -> str:
        return format_html('<pre class="admin-pre-wrap">{}</pre>', obj.response_body)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
