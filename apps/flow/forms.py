"""The flow's forms: they check the format of what the consumer types and normalise it.

Consumers type on a phone: separators people naturally write ("1.234.567", "300 123 4567",
"$ 3.500.000") are accepted and removed; anything else gets a message tied to its field. The
journey data a lender may declare (birth date, region, address...) is asked with the fields
declared once in apps.leads.forms, which the origins' offer page uses too.
"""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.leads.consumer_data import (
    DOCUMENT_PATTERNS,
    FULL_NAME_PATTERN,
    MAX_MONTHLY_INCOME,
    document_number_normalise,
)
from apps.leads.forms import INCOME_PATTERN, JourneyDataForm
from apps.leads.services import IdentityData


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


CONSENT_FIELDS = {"accept_terms": "terms", "accept_privacy": "privacy", "accept_data_processing": "data_processing"}

# Journey fields a lender's adapter may declare that the identity page knows how to ask.
IDENTITY_EXTRA_FIELDS = (
    "birth_date", "region", "requested_amount", "email", "employment_status", "address_line", "city", "postal_code",
)


class FlowForm(forms.Form):
    """Labels without Django's trailing colon; the templates lay labels out on their own line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class IdentityForm(JourneyDataForm):
    """Identity and income, the journey data the chosen lender declares (JourneyDataForm, in
    the order below), and the consents."""

    field_order = ["document_type", "document_number", "full_name", "monthly_income"]

    # Radio buttons, not a <select>: a select shows its option on one line, cut at a phone's width
    # ("Colombian citizen ID (cédula de ciu"); a radio's label wraps.
    document_type = forms.ChoiceField(
        label=_("Tipo de documento"), choices=DocumentType.CHOICES, initial=DocumentType.CC, widget=forms.RadioSelect,
    )
    document_number = forms.CharField(
        label=_("Número de documento"), max_length=30,
        error_messages={"required": _("Escribe el número de tu documento.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    full_name = forms.CharField(
        label=_("Nombre completo"), max_length=120, min_length=3,
        error_messages={"required": _("Escribe tu nombre completo, como aparece en tu documento.")},
        widget=forms.TextInput(attrs={"autocomplete": "name", "autocapitalize": "words"}),
        help_text=_("Como aparece en tu documento."),
    )
    monthly_income = forms.CharField(
        label=_("Ingresos mensuales (COP)"), max_length=20,
        error_messages={"required": _("Escribe cuánto ganas al mes, en pesos.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=_("En pesos, sin centavos. Por ejemplo: 3.500.000"),
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
        asked = tuple(name for name in extra_fields if name in IDENTITY_EXTRA_FIELDS)
        super().__init__(*args, asked=asked, **kwargs)
        self.consent_text = consent_text
        if consent_text is None:
            # No published text for this language and mode: nothing can be accepted.
            self.fields["consent_text"].required = True
        else:
            self.fields["consent_text"].initial = consent_text.pk
            for name, kind in CONSENT_FIELDS.items():
                self.fields[name].label = consent_text.label_for(kind)

    @property
    def consent_fields(self) -> list:
        return [self[name] for name in CONSENT_FIELDS]

    @property
    def extra_bound_fields(self) -> list:
        return self.journey_bound_fields

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


class OfferChoiceForm(FlowForm):
    offer = forms.TypedChoiceField(
        label=_("Elige una oferta"), coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Elige una de las ofertas para continuar.")},
    )

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].choices = [(offer.pk, offer.lender_offer_id) for offer in offers]
        self.fields["offer"].error_messages["invalid_choice"] = _("Esa oferta ya no está disponible; elige otra.")


class DetailsForm(JourneyDataForm):
    """The contact data the lender receives with the application, asked with the journey fields'
    declarations (apps.leads.forms): a phone is stored as +57 followed by its 10 digits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, asked=("email", "phone"), **kwargs)


class ResultEmailForm(FlowForm):
    """On a slow wait: the address to send the lender's decision to, so the consumer may leave."""

    email = forms.EmailField(
        label=_("Tu correo electrónico"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={"invalid": _("Escribe un correo válido, por ejemplo nombre@correo.com."),
                        "required": _("Escribe tu correo para que te enviemos la respuesta.")},
    )
