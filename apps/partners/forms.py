import json

from django import forms
from django.contrib.auth.password_validation import validate_password

from apps.postbacks.models import PostbackEvent

CODE_FIELD = dict(min_length=6, max_length=8, label="Authenticator code",
                  widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


class LoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    code = forms.CharField(**CODE_FIELD)


class SetPasswordForm(forms.Form):
    password = forms.CharField(label="New password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password_again = forms.CharField(label="The same password again", strip=False,
                                     widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password and password != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        elif password:
            try:
                validate_password(password)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class CodeForm(forms.Form):
    code = forms.CharField(**CODE_FIELD)


class ConsoleForm(forms.Form):
    """A test postback: the fields of the contract a lender most often gets wrong."""

    lender = forms.TypedChoiceField(coerce=int, label="Staging environment")
    click_id = forms.CharField(max_length=255, label="click_id")
    status = forms.ChoiceField(choices=PostbackEvent.Status.choices)
    event_id = forms.CharField(max_length=128, required=False)
    reason = forms.CharField(max_length=512, required=False)

    def __init__(self, *args, lenders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lender"].choices = [(lender.pk, f"{lender.name} (staging)") for lender in lenders]

    def body(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("click_id", "status", "event_id", "reason") if data.get(name)}


class ProposeForm(forms.Form):
    """Product data as the product API takes it (one JSON object), for staff review."""

    data = forms.CharField(widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}), label="Product data (JSON)")

    def clean_data(self):
        try:
            value = json.loads(self.cleaned_data["data"])
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Send one JSON object.")
        return value
