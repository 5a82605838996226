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
from django.conf import settings
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
from apps.lenders.activation import (
    activation_is_guarded,
    lender_activation_override_record,
    lender_activation_refusal,
)
from apps.lenders.circuit import lender_circuit_force
from apps.lenders.config import lender_callback_url
from apps.lenders.credentials import credential_issue, handover_create
from apps.lenders.tools import lender_dry_run, lender_secrets_apply
from apps.lenders.adapters import ADAPTERS, adapter_class
from apps.lenders.adapters.base import JOURNEY_FIELDS, AdapterConfigurationError
from apps.lenders.adapters.mapped_spec import PLACEHOLDERS
from apps.lenders.masking import mask_text
from apps.lenders.models import CircuitState, Lender, LenderCall, MappedApi
from apps.lenders.release import RELEASED_ALWAYS, lender_field_policy
from prosperas.admin_paging import LargeTableAdminMixin
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
    credentials_remove = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Remove credentials",
    )
    released_fields = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Approved for release",
        choices=[(name, f"{label} ({name})") for name, label in JOURNEY_FIELDS.items()],
        help_text="Consumer fields this lender may receive besides identity and income. Only those its adapter "
                  "declares are sent (and asked of the consumer); see the policy above.",
    )

    class Meta:
        model = Lender
        # Adapter credentials are set by lender_secrets_apply from the write-only inputs, never
        # bound directly; postback secrets are issued by the platform (apps.lenders.credentials).
        exclude = ["credentials"]

    activation_override_reason = forms.CharField(
        required=False, strip=True, widget=forms.Textarea(attrs={"rows": 2}), label="Activation override reason",
        help_text="Only to turn a production row active without a valid conformance certificate of its staging "
                  "row: why (recorded with your user).",
    )
    new_credential_name = forms.SlugField(required=False, help_text="Add another credential by name.")
    new_credential_value = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = dict(self.instance.credentials or {}) if self.instance.pk else {}
        self.fields["credentials_remove"].choices = [(name, name) for name in sorted(stored)]

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("new_credential_name")) != bool(cleaned.get("new_credential_value")):
            self.add_error("new_credential_value", "Give both a name and a value, or neither.")
        self._activation_check(cleaned)
        return cleaned

    def _activation_check(self, cleaned: dict) -> None:
        """Turning a production row active needs its staging row's certificate, or a reason."""
        self.activation_refusal = ""
        fields = {name: cleaned.get(name) for name in ("is_active", "environment", "staging_counterpart", "code")}
        if any(value is None for name, value in fields.items() if name != "staging_counterpart"):
            return
        candidate = Lender(pk=self.instance.pk, is_active=fields["is_active"], environment=fields["environment"],
                           staging_counterpart=fields["staging_counterpart"], code=fields["code"])
        was_active = bool(self.instance.pk) and Lender.objects.filter(pk=self.instance.pk, is_active=True).exists()
        if not activation_is_guarded(lender=candidate, was_active=was_active):
            return
        refusal = lender_activation_refusal(candidate)
        if refusal and not cleaned.get("activation_override_reason"):
            self.add_error("is_active", f"{refusal} Give an activation override reason to activate it anyway.")
        self.activation_refusal = refusal

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
    readonly_fields = ["postback_key", "stored_credentials", "stored_postback_secrets", "recent_calls", "callback_url",
                       "circuit_state", "circuit_changed_at", "circuit_note", "circuit_held_open", "tools", "field_policy"]
    actions = ["force_circuit_open", "force_circuit_closed", "postback_secret_issue"]
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
        try:  # the conformance kit's page, when its app is installed (it sits above this one)
            conformance = format_html(' · <a href="{}">Conformance run</a>',
                                      reverse("admin:conformance_conformancerun_start", args=[obj.pk]))
        except NoReverseMatch:
            conformance = ""
        if obj.environment != Lender.Environment.STAGING:
            return format_html('<a href="{}">Call statistics</a> · dry runs are for staging lenders only{}', stats,
                               conformance)
        return format_html('<a href="{}">Dry run (prequalify with made-up data)</a> · <a href="{}">Call statistics</a>{}',
                           reverse("admin:lenders_lender_dry_run", args=[obj.pk]), stats, conformance)

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
                   "target_ms": selectors.LATENCY_TARGET_MS, "opts": self.model._meta,
                   "approximate": any(row.approximate for row in rows)}
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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        refusal = getattr(form, "activation_refusal", "")
        if refusal:  # activated despite the policy's refusal: the form required a reason
            lender_activation_override_record(lender=obj, user=request.user, refusal=refusal,
                                              reason=form.cleaned_data["activation_override_reason"])

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The credential inputs depend on the lender's adapter and stored keys: declared on a
        # subclass made per request, so the admin's fieldsets can name them.
        kwargs["form"] = type("LenderAdminForm", (LenderAdminForm,), credential_fields_for(obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        credential_fields = [CREDENTIAL_PREFIX + name for name in credential_names_for(obj)]
        return [
            (None, {"fields": ["code", "name", "adapter", "base_url", "environment", "staging_counterpart", "is_active",
                               "activation_override_reason", "privacy_contact_email", *(["tools"] if obj else [])]}),
            ("Calls", {"fields": ["timeout_seconds", "max_retries", "pending_timeout_seconds",
                                  *(["callback_url", "recent_calls"] if obj else [])]}),
            ("Circuit breaker", {"fields": ["circuit_state", "circuit_changed_at", "circuit_note", "circuit_held_open"],
                                 "description": "Open: the lender is not called, its listings leave the catalog and "
                                                "compare mode skips it. Use the list's actions to force it either way."}),
            ("Personal data released", {
                "fields": [*(["field_policy"] if obj else []), "released_fields"],
                "description": "What leaves for this lender: identity and income always (the decision needs them); "
                               "any other field only when its adapter declares it and it is approved here.",
            }),
            ("Credentials (write-only)", {
                "fields": ["stored_credentials", *credential_fields, "new_credential_name", "new_credential_value",
                           *(["credentials_remove"] if obj and obj.credentials else [])],
            }),
            ("Postbacks", {
                "fields": ["postback_auth", "postback_key", "stored_postback_secrets", "postback_ip_allowlist"],
                "description": "The platform issues postback secrets: use the list's action \"Issue a new postback "
                               "secret\" (a one-time link for the lender's technical contact; the one it replaces "
                               "keeps verifying for the overlap window), or the lender does it in the portal.",
            }),
        ]

    @admin.display(description="Policy")
    def field_policy(self, obj: Lender) -> str:
        """Each journey field: declared by the adapter, approved by staff, so sent or not."""
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td></tr>", (
            (f"{row.label} ({row.name})", "yes" if row.declared else "no", "yes" if row.approved else "no",
             "sent" if row.released else "not sent") for row in lender_field_policy(obj)))
        return format_html(
            '<table class="field-policy"><thead><tr><th>Field</th><th>Declared by adapter</th><th>Approved</th>'
            "<th>Released</th></tr></thead><tbody>"
            "<tr><td>{}</td><td>always</td><td>always</td><td><b>sent</b></td></tr>"
            "{}</tbody></table>", ", ".join(RELEASED_ALWAYS), rows)

    @admin.display(description="Stored credentials")
    def stored_credentials(self, obj: Lender) -> str:
        return masked_credentials(obj.credentials) if obj and obj.pk else "(none)"

    @admin.display(description="Postback credentials")
    def stored_postback_secrets(self, obj: Lender) -> str:
        """The issued credentials by fingerprint, state and last use: never a secret."""
        if not (obj and obj.pk):
            return "(none: issue one from the list's actions once the lender is saved)"
        rows = format_html_join("", "<li>{} · {} · issued {} by {} · last used {}</li>", (
            (c.fingerprint, c.state(), c.created_at.strftime("%Y-%m-%d %H:%M"), c.issued_by or "-",
             c.last_used_at.strftime("%Y-%m-%d %H:%M") if c.last_used_at else "never")
            for c in obj.postback_credentials.all()[:10]))
        return format_html("<ul>{}</ul>", rows) if rows else "(none issued)"

    @admin.action(description="Issue a new postback secret (one-time link for the lender)")
    def postback_secret_issue(self, request, queryset):
        """Rotate: a new secret per selected lender, handed over by a one-time link staff send to
        the lender's technical contact; staff never see the secret itself."""
        handovers = []
        for lender in queryset:
            issued = credential_issue(lender=lender, issued_by=f"staff:{request.user.get_username()}")
            token = handover_create(credential=issued.credential, created_by=f"staff:{request.user.get_username()}")
            handovers.append((lender, issued.credential, request.build_absolute_uri(
                reverse("partners:handover", args=[token]))))
        response = TemplateResponse(request, "admin/lenders/lender/handover_links.html", {
            **self.admin_site.each_context(request), "title": "One-time links", "handovers": handovers,
            "hours": settings.LENDER_HANDOVER_HOURS, "overlap_hours": settings.LENDER_CREDENTIAL_OVERLAP_HOURS,
        })
        response["Cache-Control"] = "no-store"
        return response

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
class LenderCallAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Every attempt at a lender, read-only; bodies are stored masked and truncated."""

    list_display = ["started_at", "lender", "tracking_id", "capability", "attempt", "outcome", "http_status", "duration_ms"]
    list_filter = ["lender", "capability", "outcome", "started_at"]
    search_fields = ["lead__tracking_id__exact"]  # exact: the lead by its unique index
    list_select_related = ["lender", "lead"]
    # No date_hierarchy: its links cost a DISTINCT over every row the filters leave (admin at
    # size); the date filter in the sidebar asks nothing of the database.
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
