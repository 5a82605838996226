from django import forms
from django.contrib import admin

from apps.origins.models import Origin


class OriginForm(forms.ModelForm):
    deep_link_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave blank to keep the current secret.",
    )

    class Meta:
        model = Origin
        fields = ["code", "name", "kind", "prefix_tracking_ids", "is_active", "compare_mode", "deep_link_secret",
                  "deep_link_legacy_plain"]

    def clean_deep_link_secret(self) -> str:
        return self.cleaned_data["deep_link_secret"] or (self.instance.deep_link_secret if self.instance.pk else "")


@admin.register(Origin)
class OriginAdmin(admin.ModelAdmin):
    form = OriginForm
    list_display = ["code", "name", "kind", "prefix_tracking_ids", "is_active", "compare_mode",
                    "deep_link_legacy_plain", "created_at"]
    list_filter = ["kind", "prefix_tracking_ids", "is_active", "deep_link_legacy_plain"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        # The code is part of every prefixed tracking ID already issued: fixed once saved.
        return ["code"] if obj else []
