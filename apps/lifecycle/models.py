from django.conf import settings
from django.db import models


class DataRequest(models.Model):
    """One consumer's data request as served (apps/lifecycle/data_requests.py): which kind, for
    whom (a keyed digest of the document number, never the number), how many journeys it found,
    who asked and when. Staff make one in admin (Data life cycle → Data requests → Add) or with
    `manage.py consumer_data`."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export (everything we hold, for the data subject)"
        ERASURE = "erasure", "Erasure (personal data removed; ledger and billing kept)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    document_digest = models.CharField(max_length=64, db_index=True, editable=False)
    leads_found = models.PositiveIntegerField(default=0, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", editable=False)
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "consumer data request"

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]} of {self.requested_at:%Y-%m-%d %H:%M}"
