"""The conformance kit in admin: start a run on a lender (the lender's page links here), follow
its progress and read its report (each check with its evidence, masked as stored lender calls
are), the certificates (revocable), the per-lender profiles, and the activation overrides."""

from __future__ import annotations


from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.conformance.models import ActivationOverride, Certificate, ConformanceProfile, ConformanceRun
from apps.conformance.report import report_checks
from apps.conformance.services import conformance_run_start
from apps.lenders.models import Lender


@admin.register(ConformanceRun)
class ConformanceRunAdmin(admin.ModelAdmin):
    list_display = ["id", "lender", "environment", "status", "passed", "failed", "created_at", "finished_at", "report"]
    list_filter = ["status", "environment"]
    search_fields = ["lender__code", "lender__name"]
    list_select_related = ["lender"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Report")
    def report(self, obj: ConformanceRun) -> str:
        return format_html('<a href="{}">Report</a>', reverse("admin:conformance_conformancerun_report", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/<int:lender_pk>/", view(self.start_view), name="conformance_conformancerun_start"),
            path("<int:pk>/report/", view(self.report_view), name="conformance_conformancerun_report"),
            *super().get_urls(),
        ]

    def start_view(self, request, lender_pk: int):
        """GET: what a run does; POST: queue it (a run already under way is shown instead)."""
        lender = get_object_or_404(Lender, pk=lender_pk)
        if not request.user.has_perm("conformance.add_conformancerun"):
            raise PermissionDenied
        if request.method == "POST":
            try:
                run = conformance_run_start(lender=lender, environment=Lender.Environment.STAGING, user=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:lenders_lender_change", args=[lender.pk]))
            return HttpResponseRedirect(reverse("admin:conformance_conformancerun_report", args=[run.pk]))
        profile = ConformanceProfile.objects.filter(lender=lender.staging_counterpart or lender).first()
        context = {**self.admin_site.each_context(request), "title": f"Conformance run: {lender}", "lender": lender,
                   "profile": profile, "opts": self.model._meta,
                   "runs": ConformanceRun.objects.filter(lender=lender.staging_counterpart or lender)[:10]}
        return TemplateResponse(request, "admin/conformance/conformancerun/start.html", context)

    def report_view(self, request, pk: int):
        run = get_object_or_404(ConformanceRun.objects.select_related("lender"), pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        certificate = Certificate.objects.filter(run=run).first()
        checks = report_checks(run)
        context = {**self.admin_site.each_context(request), "title": f"Conformance run {run.pk}: {run.lender}",
                   "run": run, "checks": checks, "certificate": certificate, "opts": self.model._meta,
                   "refresh": not run.finished}
        return TemplateResponse(request, "admin/conformance/conformancerun/report.html", context)


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ["id", "lender", "environment", "issued_at", "expires_at", "revoked_at", "valid"]
    list_filter = ["environment"]
    search_fields = ["lender__code"]
    readonly_fields = ["run", "lender", "environment", "issued_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(boolean=True, description="Valid now")
    def valid(self, obj: Certificate) -> bool:
        return obj.is_valid()

    @admin.action(description="Revoke the selected certificates", permissions=["change"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} certificate(s) revoked.", messages.WARNING)


@admin.register(ConformanceProfile)
class ConformanceProfileAdmin(admin.ModelAdmin):
    list_display = ["lender", "approved_income", "rejected_income", "pending_income", "latency_calls",
                    "postback_window_seconds", "updated_at"]
    autocomplete_fields = ["lender"]
    raw_id_fields = ["product"]


@admin.register(ActivationOverride)
class ActivationOverrideAdmin(admin.ModelAdmin):
    list_display = ["lender", "user", "created_at", "reason"]
    readonly_fields = ["lender", "user", "reason", "refusal", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
