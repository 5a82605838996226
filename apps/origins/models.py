from django.core.validators import RegexValidator
from django.db import models

from prosperas.crypto import EncryptedTextField

# Lowercase letters and digits only: never an underscore, so `<code>_<uuid4>` has exactly one.
ORIGIN_CODE_VALIDATOR = RegexValidator(r"^[a-z0-9]{2,32}$", "Lowercase letters and digits only, 2-32 characters.")


class Origin(models.Model):
    class Kind(models.TextChoices):
        CARRIER = "carrier", "Mobile carrier"
        WALLET = "wallet", "Digital wallet"
        PAYMENT_APP = "payment_app", "Payment app"

    code = models.CharField(max_length=32, unique=True, validators=[ORIGIN_CODE_VALIDATOR])
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    prefix_tracking_ids = models.BooleanField(
        default=False, help_text="Tracking IDs read <code>_<uuid> instead of a plain UUID."
    )
    is_active = models.BooleanField(default=True)
    compare_mode = models.BooleanField(
        default=False,
        help_text="Consumers give identity and income once and every eligible lender is asked at once; "
                  "offers are compared side by side.",
    )
    deep_link_secret = EncryptedTextField(
        blank=True, help_text="The origin's key for entry links: their prefill is encrypted with it.",
    )
    deep_link_legacy_plain = models.BooleanField(
        "legacy plain deep links", default=False,
        help_text="Legacy: also accept entry links whose prefill (name, phone) is in clear in the URL, "
                  "signed only. Personal data then lands in access logs on the way; turn off once the "
                  "origin sends the encrypted form.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
