from django.core.exceptions import ValidationError
from django.db import models

from apps.products.selectors import RepresentativeExample, product_representative_example


class Listing(models.Model):
    """The storefront of a product: what the consumer sees. `listing_id` is public."""

    listing_id = models.CharField(max_length=40, unique=True, editable=False)
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="listings")
    title = models.CharField(max_length=120)
    tagline = models.CharField(max_length=200, blank=True)
    highlights = models.TextField(blank=True, help_text="One highlight per line.")
    call_to_action = models.CharField(
        max_length=40, blank=True, help_text="The card's button; empty: the standard “Solicitar” (“Apply” in English).",
    )
    example_amount = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True,
        help_text="Amount of the representative example; empty: the middle of the product's range.",
    )
    example_term_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Term of the representative example; empty: the middle of the product's range."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["listing_id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.listing_id})"

    def clean(self) -> None:
        if not self.product_id:
            return
        product, errors = self.product, {}
        if self.example_amount is not None and not product.min_amount <= self.example_amount <= product.max_amount:
            errors["example_amount"] = f"Between {product.min_amount} and {product.max_amount}, the product's range."
        term = self.example_term_months
        if term and not product.min_term_months <= term <= product.max_term_months:
            errors["example_term_months"] = (
                f"Between {product.min_term_months} and {product.max_term_months} months, the product's range."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def highlight_lines(self) -> list[str]:
        return [line.strip() for line in self.highlights.splitlines() if line.strip()]

    @property
    def representative_example(self) -> RepresentativeExample:
        """Monthly payment and total to repay for this listing's example (templates read this)."""
        return product_representative_example(
            self.product, amount=self.example_amount, term_months=self.example_term_months
        )


class ListingDailyViews(models.Model):
    """How often the catalog showed a listing to an origin's consumers on one marketplace day,
    under which campaign: the top of the funnel. One row per day, bumped with an UPDATE."""

    day = models.DateField()
    origin = models.ForeignKey("origins.Origin", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="daily_views")
    views = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "listing daily views"
        constraints = [
            models.UniqueConstraint(fields=["day", "origin", "campaign", "listing"], name="listing_views_once_per_day"),
        ]
