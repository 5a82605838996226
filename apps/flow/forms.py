"""The flow's forms: they check the format of what the consumer types and normalise it.

Consumers type on a phone: separators people naturally write ("1.234.567", "300 123 4567",
"$ 3.500.000") are accepted and removed; anything else gets a message tied to its field.
"""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.leads.services import IdentityData

MAX_MONTHLY_INCOME = 10_000_000_000  # COP; above this the number was surely mistyped.


class DocumentType:
    CC = "CC"
    CE = "CE"
    PA = "PA"

    CHOICES = [
        (CC, _("Cédula de ciudadanía")),
        (CE, _("Cédula de extranjería")),
        (PA, _("Pasaporte")),
    ]
    # After removing spaces, dots and hyphens, and upper-casing.
    PATTERNS = {
        CC: re.compile(r"\d{6,10}"),
        CE: re.compile(r"[A-Z0-9]{6,10}"),
        PA: re.compile(r"[A-Z0-9]{5,15}"),
    }
    MESSAGES = {
        CC: _("La cédula de ciudadanía tiene entre 6 y 10 dígitos, sin letras."),
        CE: _("La cédula de extranjería tiene entre 6 y 10 letras o dígitos."),
        PA: _("El pasaporte tiene entre 5 y 15 letras o dígitos."),
    }


# Letters (any alphabet, with accents) in words joined by spaces, apostrophes, dots or hyphens.
FULL_NAME_PATTERN = re.compile(r"[^\W\d_]+(?:[ '.\-]+[^\W\d_]+)*\.?")
# "3.500.000", "3,500,000", "3 500 000" or "3500000": whole pesos, grouped by thousands or not.
INCOME_PATTERN = re.compile(r"\d+|\d{1,3}(?:[.,]\d{3})+|\d{1,3}(?: \d{3})+")
# A Colombian mobile number: 10 digits starting with 3, optionally after +57.
MOBILE_PATTERN = re.compile(r"(?:\+57)?(3\d{9})")


class FlowForm(forms.Form):
    """Labels without Django's trailing colon; the templates lay labels out on their own line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class IdentityForm(FlowForm):
    document_type = forms.ChoiceField(
        label=_("Tipo de documento"), choices=DocumentType.CHOICES, initial=DocumentType.CC
    )
    document_number = forms.CharField(
        label=_("Número de documento"), max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    full_name = forms.CharField(
        label=_("Nombre completo"), max_length=120, min_length=3,
        widget=forms.TextInput(attrs={"autocomplete": "name", "autocapitalize": "words"}),
        help_text=_("Como aparece en tu documento."),
    )
    monthly_income = forms.CharField(
        label=_("Ingresos mensuales (COP)"), max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=_("En pesos, sin centavos. Por ejemplo: 3.500.000"),
    )

    def clean_full_name(self) -> str:
        value = " ".join(self.cleaned_data["full_name"].split())
        if not FULL_NAME_PATTERN.fullmatch(value):
            raise forms.ValidationError(_("Escribe tu nombre solo con letras, como aparece en tu documento."))
        return value

    def clean_monthly_income(self) -> int:
        value = self.cleaned_data["monthly_income"].replace("$", "").strip()
        if not INCOME_PATTERN.fullmatch(value):
            raise forms.ValidationError(_("Escribe tus ingresos en pesos, solo con números. Por ejemplo: 3500000"))
        income = int(re.sub(r"\D", "", value))
        if income <= 0:
            raise forms.ValidationError(_("Tus ingresos mensuales deben ser mayores que cero."))
        if income >= MAX_MONTHLY_INCOME:
            raise forms.ValidationError(_("Revisa la cifra: parece tener demasiados dígitos."))
        return income

    def clean(self) -> dict:
        cleaned = super().clean()
        document_type = cleaned.get("document_type")
        raw_number = cleaned.get("document_number")
        if document_type and raw_number is not None:
            number = re.sub(r"[\s.\-]", "", raw_number).upper()
            if DocumentType.PATTERNS[document_type].fullmatch(number):
                cleaned["document_number"] = number
            else:
                self.add_error("document_number", DocumentType.MESSAGES[document_type])
        return cleaned

    def identity(self) -> IdentityData:
        data = self.cleaned_data
        return IdentityData(
            document_type=data["document_type"], document_number=data["document_number"],
            full_name=data["full_name"], monthly_income=data["monthly_income"],
        )


class OfferChoiceForm(FlowForm):
    offer = forms.TypedChoiceField(
        label=_("Elige una oferta"), coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Elige una de las ofertas para continuar.")},
    )

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].choices = [(offer.pk, offer.lender_offer_id) for offer in offers]
        self.fields["offer"].error_messages["invalid_choice"] = _("Esa oferta ya no está disponible; elige otra.")


class DetailsForm(FlowForm):
    email = forms.EmailField(
        label=_("Correo electrónico"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={"invalid": _("Escribe un correo válido, por ejemplo nombre@correo.com.")},
    )
    phone = forms.CharField(
        label=_("Celular"), max_length=25,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        help_text=_("10 dígitos, empieza por 3. Por ejemplo: 300 123 4567"),
    )

    def clean_phone(self) -> str:
        """Stored as +57 followed by the 10 digits, the form lenders expect."""
        value = re.sub(r"[\s.\-()]", "", self.cleaned_data["phone"])
        match = MOBILE_PATTERN.fullmatch(value)
        if match is None:
            raise forms.ValidationError(_("Escribe un celular colombiano de 10 dígitos que empiece por 3."))
        return f"+57{match.group(1)}"
