"""Who answers for consumers' personal data (Ley 1581 de 2012): the legal page names it and how
to reach it. One row, set by staff in admin."""

from django.core.validators import RegexValidator
from django.db import models


class DataController(models.Model):
    """The "responsable del tratamiento": the company that decides on consumers' personal data,
    with the channels where a consumer exercises their rights (Decreto 1377 de 2013, art. 13)."""

    # Always 1: there is one controller; the constraint keeps a second row out.
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    legal_name = models.CharField(max_length=120, help_text="The company's registered name, e.g. Prosperas S.A.S.")
    tax_id = models.CharField(
        "NIT", max_length=20, blank=True, validators=[RegexValidator(r"^\d{6,12}(-\d)?$", "Digits, then -check digit.")],
        help_text="The company's NIT, e.g. 901234567-8.",
    )
    address = models.CharField(max_length=200, help_text="Where written requests are received (street, city).")
    email = models.EmailField(help_text="The mailbox for queries and claims about personal data.")
    phone = models.CharField(max_length=40, blank=True, help_text="A phone line for the same, if there is one.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "data controller (habeas data contact)"
        verbose_name_plural = "data controller (habeas data contact)"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="one_data_controller")]

    def __str__(self) -> str:
        return self.legal_name
