from django.db import models


class Listing(models.Model):
    """The storefront of a product: what the consumer sees. `listing_id` is public."""

    listing_id = models.CharField(max_length=40, unique=True, editable=False)
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="listings")
    title = models.CharField(max_length=120)
    tagline = models.CharField(max_length=200, blank=True)
    highlights = models.TextField(blank=True, help_text="One highlight per line.")
    call_to_action = models.CharField(max_length=40, default="Solicitar")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["listing_id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.listing_id})"

    @property
    def highlight_lines(self) -> list[str]:
        return [line.strip() for line in self.highlights.splitlines() if line.strip()]
