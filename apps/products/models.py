from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

PRODUCT_ID_VALIDATOR = RegexValidator(r"^ln_[a-z]+_\d{2,}$", "Looks like ln_<kind>_<number>, e.g. ln_personal_01.")


class Product(models.Model):
    """A lender's credit product. `product_id` is minted by Prosperas and public."""

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal loan"
        PAYROLL = "payroll", "Payroll loan"
        MICRO = "micro", "Microcredit"

    product_id = models.CharField(max_length=40, unique=True, editable=False, validators=[PRODUCT_ID_VALIDATOR])
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3, default="COP", validators=[RegexValidator(r"^[A-Z]{3}$")])
    min_amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(1)])
    max_amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(1)])
    min_term_months = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    max_term_months = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    min_annual_rate = models.DecimalField(max_digits=6, decimal_places=4, help_text="0.1850 means 18.50% a year.")
    max_annual_rate = models.DecimalField(max_digits=6, decimal_places=4)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_amount__lte=models.F("max_amount")), name="product_amount_range"),
            models.CheckConstraint(
                condition=models.Q(min_term_months__lte=models.F("max_term_months")), name="product_term_range"
            ),
            models.CheckConstraint(
                condition=models.Q(min_annual_rate__lte=models.F("max_annual_rate")), name="product_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"

    def clean(self) -> None:
        errors = {}
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            errors["max_amount"] = "The largest amount must be at least the smallest."
        if self.min_term_months and self.max_term_months and self.min_term_months > self.max_term_months:
            errors["max_term_months"] = "The longest term must be at least the shortest."
        if self.min_annual_rate is not None and self.max_annual_rate is not None and self.min_annual_rate > self.max_annual_rate:
            errors["max_annual_rate"] = "The highest rate must be at least the lowest."
        if errors:
            raise ValidationError(errors)
