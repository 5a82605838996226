from django.core.exceptions import ValidationError
from django.db import models


class Campaign(models.Model):
    """How and when a lender's product is shown: to which origins, through which listings.

    Budgets, caps and delivery conditions come with the marketplace engine.
    """

    name = models.CharField(max_length=120)
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="campaigns")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="campaigns")
    listings = models.ManyToManyField("listings.Listing", related_name="campaigns")
    origins = models.ManyToManyField("origins.Origin", related_name="campaigns")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: runs until stopped.")
    is_active = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower shows first.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The campaign must end after it starts."})
        if self.product_id and self.lender_id and self.product.lender_id != self.lender_id:
            raise ValidationError({"product": "The product belongs to another lender."})
