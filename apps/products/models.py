"""Products: a lender's credit product with its terms and eligibility, and the lender's proposed
changes waiting for staff review.

Rates are effective annual rates (E.A.), as Colombian law quotes them: 0.2890 means 28.90 % E.A.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models

PRODUCT_ID_VALIDATOR = RegexValidator(r"^ln_[a-z]+_\d{2,}$", "Looks like ln_<kind>_<number>, e.g. ln_personal_01.")
KIND_CODE_VALIDATOR = RegexValidator(r"^[a-z]{2,20}$", "Lowercase letters only (it becomes part of product_id).")

# The identity documents the hosted flow accepts (apps/flow/forms.py DocumentType).
DOCUMENT_TYPES = {"CC": "Cédula de ciudadanía", "CE": "Cédula de extranjería", "PA": "Pasaporte"}

# ISO 3166-2:CO: the 32 departments and the capital district (Lead.region holds one of these).
REGIONS = {
    "CO-AMA": "Amazonas", "CO-ANT": "Antioquia", "CO-ARA": "Arauca", "CO-ATL": "Atlántico",
    "CO-BOL": "Bolívar", "CO-BOY": "Boyacá", "CO-CAL": "Caldas", "CO-CAQ": "Caquetá",
    "CO-CAS": "Casanare", "CO-CAU": "Cauca", "CO-CES": "Cesar", "CO-CHO": "Chocó",
    "CO-COR": "Córdoba", "CO-CUN": "Cundinamarca", "CO-DC": "Bogotá D.C.", "CO-GUA": "Guainía",
    "CO-GUV": "Guaviare", "CO-HUI": "Huila", "CO-LAG": "La Guajira", "CO-MAG": "Magdalena",
    "CO-MET": "Meta", "CO-NAR": "Nariño", "CO-NSA": "Norte de Santander", "CO-PUT": "Putumayo",
    "CO-QUI": "Quindío", "CO-RIS": "Risaralda", "CO-SAN": "Santander", "CO-SAP": "San Andrés y Providencia",
    "CO-SUC": "Sucre", "CO-TOL": "Tolima", "CO-VAC": "Valle del Cauca", "CO-VAU": "Vaupés", "CO-VID": "Vichada",
}

AGE_LIMITS = (18, 100)


def validate_document_types(value) -> None:
    if not isinstance(value, list) or any(item not in DOCUMENT_TYPES for item in value):
        raise ValidationError(f"A list of document types among {', '.join(DOCUMENT_TYPES)} (empty: any).")


def validate_regions(value) -> None:
    if not isinstance(value, list) or any(item not in REGIONS for item in value):
        raise ValidationError("A list of ISO 3166-2:CO codes such as CO-DC or CO-ANT (empty: anywhere).")


def eligibility_errors(*, min_age, max_age) -> dict[str, str]:
    """Range checks shared by products and campaigns (both carry an age range)."""
    if min_age is not None and max_age is not None and min_age > max_age:
        return {"max_age": "The oldest age must be at least the youngest."}
    return {}


class ProductKind(models.Model):
    """Kinds of product staff can offer (personal, payroll, micro, and any they add)."""

    code = models.CharField(max_length=20, unique=True, validators=[KIND_CODE_VALIDATOR])
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProductState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class Product(models.Model):
    """A lender's credit product. `product_id` is minted by Prosperas and public.

    `state` defaults to live so that rows made directly in code (fixtures, data migrations) are
    visible; the services and the admin form start every new product as a draft (staff) or in
    review (lender API), and only `product_revision_approve` makes a lender's product live.
    """

    class Kind(models.TextChoices):
        """The kinds every installation has (a data migration creates their ProductKind rows)."""

        PERSONAL = "personal", "Personal loan"
        PAYROLL = "payroll", "Payroll loan"
        MICRO = "micro", "Microcredit"

    State = ProductState

    product_id = models.CharField(max_length=40, unique=True, editable=False, validators=[PRODUCT_ID_VALIDATOR])
    lender = models.ForeignKey("lenders.Lender", on_delete=models.PROTECT, related_name="products")
    lender_reference = models.CharField(
        max_length=64, blank=True, help_text="The lender's own code for this product (its API creates by it)."
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, help_text="A ProductKind code.")
    state = models.CharField(max_length=10, choices=ProductState.choices, default=ProductState.LIVE, db_index=True)
    # Derived from state, for code that only asks "may it be offered?" (the sandbox lenders do).
    is_active = models.GeneratedField(
        expression=models.Case(models.When(state=ProductState.LIVE, then=True), default=False),
        output_field=models.BooleanField(), db_persist=True,
    )

    currency = models.CharField(max_length=3, default="COP", validators=[RegexValidator(r"^[A-Z]{3}$")])
    min_amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(1)])
    max_amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(1)])
    min_term_months = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    max_term_months = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    min_annual_rate = models.DecimalField(
        max_digits=6, decimal_places=4, validators=[MinValueValidator(0)],
        help_text="E.A.: 0.1850 means 18.50 % a year.",
    )
    max_annual_rate = models.DecimalField(max_digits=6, decimal_places=4, validators=[MinValueValidator(0)])
    apr = models.DecimalField(
        max_digits=6, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)],
        verbose_name="APR", help_text="Total annual cost including fees, as the lender declares it (E.A.).",
    )
    opening_fee = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)],
        help_text="Fixed fee charged once, in the product's currency.",
    )
    opening_fee_percent = models.DecimalField(
        max_digits=6, decimal_places=4, default=0, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Fee charged once as a share of the amount: 0.0200 means 2 %.",
    )
    monthly_fee = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)],
        help_text="Fixed fee added to every installment (insurance, administration).",
    )

    min_monthly_income = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: no minimum.")
    document_types = models.JSONField(
        default=list, blank=True, validators=[validate_document_types], help_text='e.g. ["CC", "CE"]; empty: any.'
    )
    min_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(AGE_LIMITS[0]), MaxValueValidator(AGE_LIMITS[1])]
    )
    max_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(AGE_LIMITS[0]), MaxValueValidator(AGE_LIMITS[1])]
    )
    regions = models.JSONField(
        default=list, blank=True, validators=[validate_regions],
        help_text='ISO 3166-2:CO codes, e.g. ["CO-DC"]; empty: all.'
    )
    disclosure = models.TextField(blank=True, help_text="Legal text shown with the offer.")
    logo_url = models.URLField(
        max_length=500, blank=True, validators=[URLValidator(schemes=["https"])], help_text="The lender's logo (https)."
    )

    went_live_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="When it was first made live.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_amount__lte=models.F("max_amount")), name="product_amount_range"),
            # Each refusal says what is wrong in words a lender can act on, never the constraint's name.
            models.CheckConstraint(
                condition=models.Q(min_term_months__lte=models.F("max_term_months")), name="product_term_range",
                violation_error_code="term_range",
                violation_error_message="min_term_months must not be more than max_term_months.",
            ),
            models.CheckConstraint(
                condition=models.Q(min_annual_rate__lte=models.F("max_annual_rate")), name="product_rate_range",
                violation_error_code="rate_range",
                violation_error_message="min_annual_rate must not be more than max_annual_rate.",
            ),
            models.UniqueConstraint(
                fields=["lender", "lender_reference"], condition=~models.Q(lender_reference=""),
                name="product_lender_reference_unique", violation_error_code="duplicate_lender_reference",
                violation_error_message="Another of your products already has this lender_reference.",
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
        errors.update(eligibility_errors(min_age=self.min_age, max_age=self.max_age))
        built_in = self.kind in Product.Kind.values
        if self.kind and not built_in and not ProductKind.objects.filter(code=self.kind).exists():
            errors["kind"] = f"Unknown kind {self.kind!r}: staff add kinds under Products › Product kinds."
        if errors:
            raise ValidationError(errors)


# The product fields a lender's data (API) and a revision carry; product_id, lender and state
# are never among them.
PRODUCT_DATA_FIELDS = (
    "lender_reference", "name", "kind", "currency", "min_amount", "max_amount", "min_term_months",
    "max_term_months", "min_annual_rate", "max_annual_rate", "apr", "opening_fee", "opening_fee_percent",
    "monthly_fee", "min_monthly_income", "document_types", "min_age", "max_age", "regions", "disclosure", "logo_url",
)


class ProductRevision(models.Model):
    """A lender's proposed product data, applied only when staff approve it.

    `data` holds every PRODUCT_DATA_FIELDS value as JSON (decimals as strings). A newer proposal
    supersedes an older one still pending, so staff review only the latest.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a newer proposal"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="revisions")
    data = models.JSONField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why it was rejected, for the lender.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"], condition=models.Q(state="pending"), name="product_one_pending_revision"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.product_id} revision {self.pk} ({self.state})"
