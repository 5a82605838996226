"""The back office in admin: bulk retries (a form, its preview, the confirmation, then the run's
progress) and the marketplace's alerts (listed, owned, acknowledged, resolved)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.backoffice import alerts
from apps.backoffice.bulk_retry import PERMISSION as RETRY_PERMISSION
from apps.backoffice.bulk_retry import BulkRetryRefused, bulk_retry_confirm, bulk_retry_preview
from apps.backoffice.models import Alert, BulkRetry
from apps.lenders.models import Lender

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class BulkRetryForm(forms.Form):
    lender = forms.ModelChoiceField(queryset=Lender.objects.order_by("name"))
    stage = forms.ChoiceField(choices=BulkRetry.Stage.choices, label="Failed at")
    failed_from = forms.DateTimeField(widget=DATETIME, label="Failed from")
    failed_to = forms.DateTimeField(widget=DATETIME, label="Failed before")
    reason = forms.CharField(max_length=400, widget=forms.TextInput(attrs={"size": 60}),
                             help_text="Recorded on every lead's timeline and in the audit log.")

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("failed_from"), cleaned.get("failed_to")
        if start and end and start >= end:
            raise forms.ValidationError("The period must start before it ends.")
        return cleaned


@admin.register(BulkRetry)
class BulkRetryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lender", "stage", "failed_from", "failed_to", "state", "previewed_count", "retried",
                    "skipped", "requested_by"]
    list_filter = ["state", "stage", "lender"]
    list_select_related = ["lender", "requested_by"]
    readonly_fields = [*list_display, "reason", "confirmed_at", "finished_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        confirm = path("<int:pk>/confirm/", self.admin_site.admin_view(require_POST(self.confirm_view)),
                       name="backoffice_bulkretry_confirm")
        return [confirm, *super().get_urls()]

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponseForbidden("You may not retry leads.")
        form = BulkRetryForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                preview = bulk_retry_preview(staff=request.user, **form.cleaned_data)
            except BulkRetryRefused as refused:
                form.add_error(None, str(refused))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "preview": preview, "title": "Preview the bulk retry" if preview else "Bulk retry of failed leads"}
        return TemplateResponse(request, "admin/backoffice/bulkretry/bulk_retry_form.html", context)

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            bulk, started = bulk_retry_confirm(bulk_retry_id=pk, staff=request.user)
        except BulkRetryRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backoffice_bulkretry_changelist"))
        if started:
            self.message_user(request, f"Bulk retry {bulk.pk} started: {bulk.previewed_count} lead(s) at the preview, "
                                       "retried in batches in the background.", messages.SUCCESS)
        else:
            self.message_user(request, f"Bulk retry {bulk.pk} was already confirmed ({bulk.get_state_display()}).",
                              messages.WARNING)
        return HttpResponseRedirect(reverse("admin:backoffice_bulkretry_change", args=[bulk.pk]))


class AlertForm(forms.ModelForm):
    class Meta:
        model = Alert
        fields = ["owner", "resolution"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.data.get("_resolve") and not cleaned.get("resolution", "").strip():
            self.add_error("resolution", "Say how it was resolved.")
        return cleaned


class RuleFilter(admin.SimpleListFilter):
    title = "rule"
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        return alerts.RULE_CHOICES

    def queryset(self, request, queryset):
        return queryset.filter(rule=self.value()) if self.value() else queryset


class UnresolvedFilter(admin.SimpleListFilter):
    """Unresolved alerts first: what staff have to look at."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("unresolved", "Open or acknowledged"), *Alert.State.choices, ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "unresolved"
        for lookup, title in self.lookup_choices:
            query = changelist.get_query_string({self.parameter_name: lookup})
            yield {"selected": value == lookup, "query_string": query, "display": title}

    def queryset(self, request, queryset):
        value = self.value() or "unresolved"
        if value == "unresolved":
            return queryset.exclude(state=Alert.State.RESOLVED)
        return queryset if value == "all" else queryset.filter(state=value)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    form = AlertForm
    list_display = ["message", "rule_label", "state", "group", "owner", "opened"]
    list_display_links = ["message"]
    list_filter = [UnresolvedFilter, RuleFilter, "group"]
    list_select_related = ["group", "owner"]
    search_fields = ["message"]
    readonly_fields = ["rule_label", "subject", "message", "state", "group", "count", "opened_at", "last_seen_at",
                       "notified_at", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by"]
    fields = [*readonly_fields[:6], "owner", "resolution", *readonly_fields[6:]]
    actions = ["acknowledge"]
    change_form_template = "admin/backoffice/alert/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Opened", ordering="opened_at")
    def opened(self, alert: Alert) -> str:
        return f"{timezone.localtime(alert.opened_at):%Y-%m-%d %H:%M}"

    @admin.display(description="Rule", ordering="rule")
    def rule_label(self, alert: Alert) -> str:
        return dict(alerts.RULE_CHOICES).get(alert.rule, alert.rule)

    @admin.action(description="Acknowledge (and own those with no owner)", permissions=["change"])
    def acknowledge(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        done = sum(alerts.alert_acknowledge(alert_id=pk, staff=request.user) for pk in ids)
        self.message_user(request, f"{done} alert(s) acknowledged.")

    def save_model(self, request, obj: Alert, form, change) -> None:
        Alert.objects.filter(pk=obj.pk).update(owner=obj.owner)
        if "_acknowledge" in request.POST:
            alerts.alert_acknowledge(alert_id=obj.pk, staff=request.user)
        if "_resolve" in request.POST:
            alerts.alert_resolve(alert_id=obj.pk, staff=request.user, resolution=obj.resolution)
