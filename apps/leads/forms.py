"""The form fields of the journey data a lender's adapter may declare (JOURNEY_FIELDS beyond
identity and income), declared once. Two pages ask with them: the hosted flow's identity page
(apps.flow.forms.IdentityForm) and the short page an origin's offerUrl shows when the chosen
lender needs what the origin did not send (apps.origin_api). A field therefore reads, validates
and is stored the same way wherever it is asked.

Consumers type on a phone: separators people naturally write ("1.234.567", "300 123 4567",
"$ 3.500.000") are accepted and removed; anything else gets a message tied to its field.
"""

from __future__ import annotations

import datetime
import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.leads.consumer_data import ADULT_AGE, REGIONS, age_on, mobile_normalise
from apps.leads.engine.requests import LEAD_COLUMNS
from apps.lenders.adapters.base import EMPLOYMENT_STATUSES
from prosperas.inbound import bounds

# COP; above it the number was surely mistyped (the inbound window, prosperas.inbound.bounds).
MAX_REQUESTED_AMOUNT = bounds.MAX_REQUESTED_AMOUNT
# "3.500.000", "3,500,000", "3 500 000" or "3500000": whole pesos, grouped by thousands or not.
INCOME_PATTERN = re.compile(r"\d+|\d{1,3}(?:[.,]\d{3})+|\d{1,3}(?: \d{3})+")

# What the consumer reads for each employment status the adapters know (EMPLOYMENT_STATUSES).
EMPLOYMENT_LABELS = {
    "employed": _("Empleado"), "self_employed": _("Independiente"), "unemployed": _("Sin empleo"),
    "other": _("Otra (pensionado, estudiante…)"),
}

# The journey fields these forms know how to ask, in the order a page shows them.
JOURNEY_DATA_FIELDS = (
    "birth_date", "region", "requested_amount", "email", "employment_status", "address_line", "city", "postal_code",
    "phone",
)
# What an empty answer to each, once asked, is told.
REQUIRED_MESSAGES = {
    "birth_date": _("Escribe tu fecha de nacimiento."),
    "region": _("Elige el departamento donde vives."),
    "requested_amount": _("Escribe cuánto dinero necesitas."),
    "email": _("Escribe tu correo electrónico."),
    "employment_status": _("Elige tu situación laboral."),
    "address_line": _("Escribe la dirección de tu casa."),
    "city": _("Escribe tu ciudad o municipio."),
    "postal_code": _("Escribe tu código postal."),
    "phone": _("Escribe tu número de celular."),
}


class JourneyDataForm(forms.Form):
    """The journey fields in `asked` (each then required); the others are removed from the form.
    Labels go without Django's trailing colon: the templates lay labels out on their own line."""

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
    phone = forms.CharField(
        label=_("Celular"), required=False, max_length=25,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        help_text=_("10 dígitos, empieza por 3. Por ejemplo: 300 123 4567"),
    )

    def __init__(self, *args, asked: tuple[str, ...] = (), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in JOURNEY_DATA_FIELDS:
            if name in asked:
                self.fields[name].required = True
                self.fields[name].error_messages["required"] = REQUIRED_MESSAGES[name]
            else:
                del self.fields[name]

    @property
    def journey_bound_fields(self) -> list:
        return [self[name] for name in JOURNEY_DATA_FIELDS if name in self.fields]

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

    def clean_phone(self) -> str:
        """Stored as +57 followed by the 10 digits, the form lenders expect."""
        value = self.cleaned_data.get("phone", "")
        if not value:
            return ""
        phone = mobile_normalise(value)
        if phone is None:
            raise forms.ValidationError(_("Escribe un celular colombiano de 10 dígitos que empiece por 3."))
        return phone

    def extra_data(self) -> dict[str, str]:
        """What was asked that Lead has no column for (stored encrypted in LeadExtraData)."""
        return {name: " ".join(str(self.cleaned_data[name]).split()) for name in JOURNEY_DATA_FIELDS
                if name not in LEAD_COLUMNS and self.cleaned_data.get(name)}

    def journey_values(self) -> dict[str, str | int]:
        """Every answer by its journey field name, as the journey stores it: a birth date as ISO
        text, an amount as whole pesos, free text with its spaces collapsed."""
        values: dict[str, str | int] = dict(self.extra_data())
        for name in LEAD_COLUMNS:
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                values[name] = value.isoformat() if isinstance(value, datetime.date) else value
        return values
