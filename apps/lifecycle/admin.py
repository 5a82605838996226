"""Consumer data requests in admin (the compliance role): the log of requests served, and the
page that serves one (export as a JSON download, or erasure) by document number."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from apps.lifecycle.data_requests import consumer_data_erase, consumer_data_export
from apps.lifecycle.models import DataRequest


class DataRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=DataRequest.Kind.choices, widget=forms.RadioSelect)
    document_number = forms.CharField(max_length=20, strip=True, widget=forms.TextInput(attrs={"autocomplete": "off"}),
                                      help_text="As the consumer gave it; spaces, dots and hyphens are ignored.")
    confirm_erasure = forms.BooleanField(required=False, label="I confirm the erasure",
                                         help_text="Erasure cannot be undone.")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == DataRequest.Kind.ERASURE and not cleaned.get("confirm_erasure"):
            self.add_error("confirm_erasure", "Tick to confirm: erasure cannot be undone.")
        return cleaned


@admin.register(DataRequest)
class DataRequestAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "kind", "leads_found", "requested_by", "document_digest"]
    list_filter = ["kind"]
    readonly_fields = ["kind", "document_digest", "leads_found", "requested_by", "requested_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was served stays

    def get_urls(self):
        return [path("serve/", self.admin_site.admin_view(self.serve_view), name="lifecycle_datarequest_serve"),
                *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:lifecycle_datarequest_serve")

    def serve_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DataRequestForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            number = form.cleaned_data["document_number"]
            if form.cleaned_data["kind"] == DataRequest.Kind.EXPORT:
                return _download(consumer_data_export(document_number=number, actor=request.user))
            result = consumer_data_erase(document_number=number, actor=request.user)
            form = DataRequestForm()
        context = {**self.admin_site.each_context(request), "title": "Serve a consumer data request", "form": form,
                   "result": result, "opts": self.model._meta}
        return TemplateResponse(request, "admin/lifecycle/datarequest/serve.html", context)


def _download(data: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="consumer-data-{timezone.now():%Y%m%d-%H%M%S}.json"'
    response["Cache-Control"] = "no-store"
    return response
