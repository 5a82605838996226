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


class PublishedTextImmutable(Exception):
    """A published consent text was about to change."""


class ConsentText(models.Model):
    """What a consumer reads and ticks at the consent step, in one language and for one kind of
    journey: a published version's rows are immutable, and every acceptance (leads.Consent)
    points at the row it showed, so it can be proven later (Ley 1581 de 2012, art. 9).

    A version is the set of rows sharing `version`: one per language and mode, published together
    (apps.legal.services.consent_version_publish). Until then the rows are drafts staff may edit.
    """

    class Language(models.TextChoices):
        SPANISH = "es", "Español"
        ENGLISH = "en", "English"

    class Mode(models.TextChoices):
        SINGLE = "single", "One lender (the one the consumer chose)"
        COMPARE = "compare", "Compare mode (every eligible lender listed)"

    version = models.CharField(
        max_length=40, validators=[RegexValidator(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$", "Letters, digits, . _ -")],
        help_text="The version's name, e.g. 2026-12-04. Every language and mode of one version shares it.",
    )
    language = models.CharField(max_length=2, choices=Language.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    terms_label = models.TextField(help_text="The checkbox to accept the terms and conditions.")
    privacy_label = models.TextField(help_text="The checkbox to confirm the privacy policy was read.")
    data_processing_label = models.TextField(help_text="The checkbox authorizing the processing of personal data.")
    sharing = models.TextField(
        help_text="Who receives the consumer's data, in plain words. In compare mode the page lists the lenders "
                  "right after it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="Empty while a draft; once set the row never changes.")

    class Meta:
        ordering = ["-published_at", "version", "language", "mode"]
        constraints = [models.UniqueConstraint(fields=["version", "language", "mode"], name="consent_text_once")]

    def __str__(self) -> str:
        return f"{self.version} · {self.language} · {self.mode}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def save(self, *args, **kwargs) -> None:
        # The one rule kept here rather than in a service: a published text is evidence of what
        # consumers accepted, so no path (admin, shell, a service) may rewrite it.
        if self.pk is not None and ConsentText.objects.filter(pk=self.pk, published_at__isnull=False).exists():
            raise PublishedTextImmutable(f"Consent text {self} is published: publish a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.pk is not None and ConsentText.objects.filter(pk=self.pk, published_at__isnull=False).exists():
            raise PublishedTextImmutable(f"Consent text {self} is published: it cannot be deleted.")
        return super().delete(*args, **kwargs)

    def label_for(self, kind: str) -> str:
        """The checkbox text of a consent kind (leads.Consent.Kind values)."""
        return {"terms": self.terms_label, "privacy": self.privacy_label,
                "data_processing": self.data_processing_label}[kind]
