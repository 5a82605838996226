"""The dashboards in admin: /admin/reports/dashboard/ lists them, /admin/reports/dashboard/<name>/
draws one (SVG charts, no script), and /admin/reports/dashboard/<name>/<chart>.csv downloads
one chart's numbers. Read-only; seen by whoever holds reports.view_dashboard (the analyst role,
prosperas/roles.py) or is a superuser."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from apps.campaigns.models import Campaign
from apps.campaigns.selectors import marketplace_day
from apps.lenders.models import Lender
from apps.origins.models import Origin
from apps.reports.charts import chart_csv, chart_svg
from apps.reports.models import Dashboard, RollupState
from apps.reports.selectors import DASHBOARDS, GROUPS, Filters, circuit_changes_recent

MAX_DAYS = 366


class DashboardFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    origin = forms.ModelChoiceField(Origin.objects.order_by("name"), required=False)
    lender = forms.ModelChoiceField(Lender.objects.order_by("name"), required=False)
    campaign = forms.ModelChoiceField(Campaign.objects.order_by("name"), required=False)
    group = forms.ChoiceField(choices=[(name, f"per {name}") for name in GROUPS], required=False, label="Grouped")

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            raise forms.ValidationError("The period starts after it ends.")
        if first and last and (last - first).days >= MAX_DAYS:
            raise forms.ValidationError(f"A period of at most {MAX_DAYS} days.")
        return data

    def filters(self) -> Filters:
        today = marketplace_day()
        data = self.cleaned_data if self.is_valid() else {}
        last = data.get("date_to") or today
        first = data.get("date_from") or last - timedelta(days=29)
        return Filters(
            date_from=first, date_to=last, group=data.get("group") or "origin",
            **{f"{name}_id": data[name].pk if data.get(name) else None for name in ("origin", "lender", "campaign")},
        )


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm("reports.view_dashboard")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="reports_dashboard_changelist"),
            path("<slug:name>/", view(self.dashboard_view), name="reports_dashboard"),
            path("<slug:name>/<slug:chart>.csv", view(self.csv_view), name="reports_dashboard_csv"),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}

    def _allowed(self, request: HttpRequest, name: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if name not in DASHBOARDS:
            raise Http404("No such dashboard.")
        return DASHBOARDS[name]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self._context(request, "Dashboards"), "dashboards": [(name, spec[0]) for name, spec in DASHBOARDS.items()],
                   "states": RollupState.objects.order_by("kind")}
        return TemplateResponse(request, "reports/admin/index.html", context)

    def dashboard_view(self, request: HttpRequest, name: str) -> HttpResponse:
        title, charts_for, fields = self._allowed(request, name)
        form = DashboardFilterForm(request.GET or None)
        filters = form.filters()
        charts = charts_for(filters)
        query = request.GET.urlencode()
        context = {
            **self._context(request, title), "name": name, "form": form, "fields": fields, "filters": filters,
            "charts": [{"chart": chart, "svg": chart_svg(chart), "query": query} for chart in charts],
            "circuit_changes": circuit_changes_recent(filters) if name == "lenders" else None,
            "state": RollupState.objects.filter(kind=name).first(),
        }
        return TemplateResponse(request, "reports/admin/dashboard.html", context)

    def csv_view(self, request: HttpRequest, name: str, chart: str) -> HttpResponse:
        _, charts_for, _ = self._allowed(request, name)
        filters = DashboardFilterForm(request.GET or None).filters()
        found = next((item for item in charts_for(filters) if item.key == chart), None)
        if found is None:
            raise Http404("No such chart.")
        response = HttpResponse(chart_csv(found), content_type="text/csv; charset=utf-8")
        filename = f"{name}-{chart}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

