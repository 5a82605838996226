"""The flow's forms: they check the format of what the consumer types and normalise it.

Consumers type on a phone: separators people naturally write ("1.234.567", "300 123 4567",
"$ 3.500.000") are accepted and removed; anything else gets a message tied to its field.
"""

import datetime
import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.leads.consumer_data import (
    ADULT_AGE,
    DOCUMENT_PATTERNS,
    FULL_NAME_PATTERN,
    MAX_MONTHLY_INCOME,
    REGIONS,
    age_on,
    document_number_normalise,
    mobile_normalise,
)
from apps.leads.services import IdentityData
from apps.lenders.adapters.base import EMPLOYMENT_STATUSES
from prosperas.inbound import bounds

# COP; above it the number was surely mistyped (the inbound window, prosperas.inbound.bounds).
MAX_REQUESTED_AMOUNT = bounds.MAX_REQUESTED_AMOUNT


class DocumentType:
    """The documents a person can borrow with in Colombia. Not offered: TI (tarjeta de identidad)
    belongs to minors, who cannot take consumer credit; NIT identifies a company or a tax payer,
    not a consumer; RC (registro civil) is a child's document."""

    CC = "CC"
    CE = "CE"
    PA = "PA"

    CHOICES = [
        (CC, _("Cédula de ciudadanía")),
        (CE, _("Cédula de extranjería")),
        (PA, _("Pasaporte")),
    ]
    # After removing spaces, dots and hyphens, and upper-casing (apps.leads.consumer_data).
    PATTERNS = DOCUMENT_PATTERNS
    MESSAGES = {
        CC: _("La cédula de ciudadanía tiene entre 6 y 10 dígitos, sin letras."),
        CE: _("La cédula de extranjería tiene entre 6 y 10 letras o dígitos."),
        PA: _("El pasaporte tiene entre 5 y 15 letras o dígitos."),
    }


# "3.500.000", "3,500,000", "3 500 000" or "3500000": whole pesos, grouped by thousands or not.
INCOME_PATTERN = re.compile(r"\d+|\d{1,3}(?:[.,]\d{3})+|\d{1,3}(?: \d{3})+")

CONSENT_FIELDS = {"accept_terms": "terms", "accept_privacy": "privacy", "accept_data_processing": "data_processing"}

# Journey fields a lender's adapter may declare that the identity page knows how to ask.
IDENTITY_EXTRA_FIELDS = (
    "birth_date", "region", "requested_amount", "email", "employment_status", "address_line", "city", "postal_code",
)
# Of those, the ones Lead has no column for: stored encrypted beside the lead (LeadExtraData).
IDENTITY_EXTRA_DATA_FIELDS = ("employment_status", "address_line", "city", "postal_code")


class FlowForm(forms.Form):
    """Labels without Django's trailing colon; the templates lay labels out on their own line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# What the consumer reads for each employment status the adapters know (EMPLOYMENT_STATUSES).
EMPLOYMENT_LABELS = {
    "employed": _("Empleado"), "self_employed": _("Independiente"), "unemployed": _("Sin empleo"),
    "other": _("Otra (pensionado, estudiante…)"),
}


class IdentityForm(FlowForm):
    # Radio buttons, not a <select>: a select shows its option on one line, cut at a phone's width
    # ("Colombian citizen ID (cédula de ciu"); a radio's label wraps.
    document_type = forms.ChoiceField(
        label=_("Tipo de documento"), choices=DocumentType.CHOICES, initial=DocumentType.CC, widget=forms.RadioSelect,
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

    birth_date = forms.DateField(
        label=_("Fecha de nacimiento"), required=False, input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Escribe la fecha como día/mes/año, por ejemplo 31/01/1990.")},
    )
    region = forms.ChoiceField(
        label=_("Departamento donde vives"), required=False, choices=[("", _("Elige tu departamento"))] + REGIONS,
    )
    requested_amount = forms.CharField(
        label=_("¿Cuánto necesitas? (COP)"), required=False, max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=_("En pesos, sin centavos. Por ejemplo: 5.000.000"),
    )
    email = forms.EmailField(
        label=_("Correo electrónico"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={"invalid": _("Escribe un correo válido, por ejemplo nombre@correo.com.")},
    )
    employment_status = forms.ChoiceField(
        label=_("Situación laboral"), required=False, widget=forms.RadioSelect,
        choices=[(value, EMPLOYMENT_LABELS[value]) for value in EMPLOYMENT_STATUSES],
    )
    address_line = forms.CharField(
        label=_("Dirección de tu casa"), required=False, max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
        help_text=_("Por ejemplo: Calle 45 # 12-30, apto 201"),
    )
    city = forms.CharField(
        label=_("Ciudad o municipio"), required=False, max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    postal_code = forms.RegexField(
        label=_("Código postal"), required=False, regex=r"^\d{6}$", max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
        help_text=_("6 dígitos. Por ejemplo: 110111"),
        error_messages={"invalid": _("El código postal colombiano tiene 6 dígitos, por ejemplo 110111.")},
    )
    accept_terms = forms.BooleanField(
        label=_("Acepto los términos y condiciones."),
        error_messages={"required": _("Para continuar, acepta los términos y condiciones.")},
    )
    accept_privacy = forms.BooleanField(
        label=_("Leí la política de privacidad."),
        error_messages={"required": _("Para continuar, confirma que leíste la política de privacidad.")},
    )
    accept_data_processing = forms.BooleanField(
        label=_("Autorizo el tratamiento de mis datos personales para estudiar mi solicitud de crédito "
                "(Ley 1581 de 2012)."),
        error_messages={"required": _("Sin esta autorización la entidad no puede estudiar tu solicitud.")},
    )

    # The published consent text the page showed (apps.legal ConsentText): what is recorded with
    # the consents, checked by the view against the journey's language and mode.
    consent_text = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, extra_fields: tuple[str, ...] = (), consent_text=None, **kwargs):
        """`extra_fields`: what the chosen lender's adapter declares beyond identity and income
        (apps.lenders.selectors.lender_required_fields); the others are removed from the page.
        `consent_text`: the published text whose checkbox labels the page shows."""
        super().__init__(*args, **kwargs)
        self.consent_text = consent_text
        if consent_text is None:
            # No published text for this language and mode: nothing can be accepted.
            self.fields["consent_text"].required = True
        else:
            self.fields["consent_text"].initial = consent_text.pk
            for name, kind in CONSENT_FIELDS.items():
                self.fields[name].label = consent_text.label_for(kind)
        for name in IDENTITY_EXTRA_FIELDS:
            if name in extra_fields:
                self.fields[name].required = True
            else:
                del self.fields[name]
        if "region" in self.fields:
            self.fields["region"].error_messages["required"] = _("Elige el departamento donde vives.")
        if "birth_date" in self.fields:
            self.fields["birth_date"].error_messages["required"] = _("Escribe tu fecha de nacimiento.")
        if "requested_amount" in self.fields:
            self.fields["requested_amount"].error_messages["required"] = _("Escribe cuánto dinero necesitas.")
        for name, message in (("email", _("Escribe tu correo electrónico.")),
                              ("employment_status", _("Elige tu situación laboral.")),
                              ("address_line", _("Escribe la dirección de tu casa.")),
                              ("city", _("Escribe tu ciudad o municipio.")),
                              ("postal_code", _("Escribe tu código postal."))):
            if name in self.fields:
                self.fields[name].error_messages["required"] = message

    @property
    def consent_fields(self) -> list:
        return [self[name] for name in CONSENT_FIELDS]

    @property
    def extra_bound_fields(self) -> list:
        return [self[name] for name in IDENTITY_EXTRA_FIELDS if name in self.fields]

    def clean_birth_date(self) -> datetime.date | None:
        born = self.cleaned_data.get("birth_date")
        if born is None:
            return None
        today = timezone.localdate()
        age = age_on(born, today)
        if born > today or age > bounds.OLDEST_AGE_YEARS:
            raise forms.ValidationError(_("Revisa la fecha: no parece una fecha de nacimiento."))
        if age < ADULT_AGE:
            raise forms.ValidationError(_("Para pedir un crédito debes ser mayor de edad."))
        return born

    def clean_requested_amount(self) -> int | None:
        value = self.cleaned_data.get("requested_amount", "").replace("$", "").strip()
        if not value:
            return None
        if not INCOME_PATTERN.fullmatch(value) or int(re.sub(r"\D", "", value)) <= 0:
            raise forms.ValidationError(_("Escribe el monto en pesos, solo con números. Por ejemplo: 5000000"))
        amount = int(re.sub(r"\D", "", value))
        if amount > MAX_REQUESTED_AMOUNT:
            raise forms.ValidationError(_("Revisa la cifra: parece tener demasiados dígitos."))
        return amount

    def accepted_consents(self) -> list[str]:
        return [kind for name, kind in CONSENT_FIELDS.items() if self.cleaned_data.get(name)]

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
            number = document_number_normalise(raw_number)
            if DocumentType.PATTERNS[document_type].fullmatch(number):
                cleaned["document_number"] = number
            else:
                self.add_error("document_number", DocumentType.MESSAGES[document_type])
        return cleaned

    def identity(self) -> IdentityData:
        data = self.cleaned_data
        born = data.get("birth_date")
        return IdentityData(
            document_type=data["document_type"], document_number=data["document_number"],
            full_name=data["full_name"], monthly_income=data["monthly_income"],
            birth_date=born.isoformat() if born else "", region=data.get("region") or "",
            requested_amount=data.get("requested_amount"), email=data.get("email") or "",
        )

    def extra_data(self) -> dict[str, str]:
        """What the lender declared that Lead has no column for (stored in LeadExtraData)."""
        return {name: " ".join(self.cleaned_data[name].split()) for name in IDENTITY_EXTRA_DATA_FIELDS
                if self.cleaned_data.get(name)}


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
        phone = mobile_normalise(self.cleaned_data["phone"])
        if phone is None:
            raise forms.ValidationError(_("Escribe un celular colombiano de 10 dígitos que empiece por 3."))
        return phone


class ResultEmailForm(FlowForm):
    """On a slow wait: the address to send the lender's decision to, so the consumer may leave."""

    email = forms.EmailField(
        label=_("Tu correo electrónico"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={"invalid": _("Escribe un correo válido, por ejemplo nombre@correo.com."),
                        "required": _("Escribe tu correo para que te enviemos la respuesta.")},
    )
