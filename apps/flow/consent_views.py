"""The consent receipt and its revocation (the journey's private link, like the status page).

The receipt opens from any browser with the journey's unguessable token (the status page and the
receipt email link to it): it shows what the consumer accepted, when, in which version and
language, and which lenders received their data, and offers to revoke. Revoking asks for a
confirmation (a checkbox, so a stray tap revokes nothing), is recorded once whatever the repeats,
and stops all further sharing (apps.leads.revocation).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.flow.journeys import SeeOther, not_found, owned_tokens, rate_limited
from apps.leads.consents import consent_receipt
from apps.leads.revocation import NothingToRevoke, consent_revoke
from apps.leads.selectors import journey_get


class RevokeForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("Entiendo que al revocar no se enviarán mis datos a ninguna entidad más y que esta "
                           "solicitud no podrá continuar."),
        error_messages={"required": gettext_lazy("Para revocar, marca la casilla de confirmación.")},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("post")
def consent(request: HttpRequest, token: str) -> HttpResponse:
    lead = journey_get(public_token=token)
    if lead is None:
        return not_found(request)
    receipt = consent_receipt(lead)
    form = RevokeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and receipt is not None and receipt.revoked_at is None and form.is_valid():
        try:
            consent_revoke(lead=lead)
        except NothingToRevoke:
            pass
        else:
            messages.success(request, _("Revocaste tu autorización. No enviaremos tus datos a ninguna entidad más."))
        return SeeOther(reverse("flow:consent", args=[token]))
    if request.method == "POST" and (receipt is None or receipt.revoked_at is not None):
        return SeeOther(reverse("flow:consent", args=[token]))  # a repeat: nothing more to do
    context = {"lead": lead, "origin": lead.origin, "receipt": receipt, "form": form,
               "owned": token in owned_tokens(request)}
    return render(request, "flow/consent.html", context)
