"""The lender portal's pages. Every view is behind `partner_required` (signed in with the second
factor, member of at least one lender) and reads only through apps.partners.selectors, which
scope each query to the user's lenders: another lender's object is a 404."""

from __future__ import annotations

import json
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.lenders.credentials import credential_issue, credential_revoke
from apps.lenders.models import Lender
from apps.partners import selectors, services
from apps.partners.forms import ConsoleForm, ProposeForm
from apps.products.api import ProductDataSerializer
from apps.products.selectors import product_data
from apps.products.services import product_lender_submit


def in_english(view):
    """The portal speaks English (lenders' integration language), whatever the site's default."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override("en"):
            return view(request, *args, **kwargs)
    return wrapper


def partner_required(view):
    @wraps(view)
    @never_cache
    @in_english
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_verified() and selectors.partner_lenders(user).exists()):
            return redirect_to_login(request.get_full_path(), reverse("partners:login"))
        return view(request, *args, **kwargs)
    return wrapper


def _found(value):
    if value is None:
        raise Http404
    return value


def _page(request, template: str, context: dict, *, status: int = 200):
    lenders = list(selectors.partner_lenders(request.user))
    response = render(request, f"partners/{template}", {**context, "lenders": lenders}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@partner_required
def home_view(request):
    checklists = [(lender, selectors.onboarding_checklist(lender)) for lender in selectors.partner_lenders(request.user)]
    return _page(request, "home.html", {"checklists": checklists, "section": "home"})


@partner_required
def credentials_view(request):
    return _credentials_page(request)


def _credentials_page(request, issued=None):
    return _page(request, "credentials.html", {
        "environments": selectors.partner_credentials(request.user), "issued": issued, "section": "credentials"})


def _who(request) -> str:
    return f"partner:{request.user.get_username()}"


@partner_required
@require_POST
def credential_issue_view(request, lender_id: int):
    """Issue (or rotate): the new secret is shown in this response only, never stored in clear."""
    lender = _found(selectors.partner_lender(request.user, lender_id))
    issued = credential_issue(lender=lender, issued_by=_who(request))
    return _credentials_page(request, issued=issued)


@partner_required
@require_POST
def credential_revoke_view(request, credential_id: int):
    credential = _found(selectors.partner_credential(request.user, credential_id))
    credential_revoke(credential=credential, revoked_by=_who(request))
    return redirect("partners:credentials")


@partner_required
def debugger_view(request):
    click_id = request.GET.get("click_id", "").strip()[:255]
    staging = [lender for lender in selectors.partner_lenders(request.user)
               if lender.environment == Lender.Environment.STAGING]
    console = ConsoleForm(request.POST or None, lenders=staging,
                          initial={"click_id": click_id, "status": "pre_approved"})
    result = error = None
    if request.method == "POST" and console.is_valid():
        lender = _found(selectors.partner_lender(request.user, console.cleaned_data["lender"]))
        try:
            result = services.console_postback_send(
                lender=lender, body=console.body(), endpoint_url=request.build_absolute_uri(reverse("postbacks:ingest")))
        except ValueError as exc:
            error = str(exc)
        click_id = console.cleaned_data["click_id"]
    rows = selectors.debugger_rows(request.user, click_id=click_id)
    return _page(request, "debugger.html", {
        "rows": rows, "click_id": click_id, "console": console, "staging": staging, "error": error,
        "result": result, "result_json": json.dumps(result.body, indent=2) if result else "", "section": "debugger"})


@partner_required
def leads_view(request):
    leads = list(selectors.partner_leads(request.user)[: selectors.PAGE_SIZE])
    rows = [(lead, selectors.lead_status_for(request.user, lead)) for lead in leads]
    return _page(request, "leads.html", {"rows": rows, "section": "leads"})


@partner_required
def lead_view(request, tracking_id: str):
    lead = _found(selectors.partner_lead(request.user, tracking_id))
    return _page(request, "lead.html", {
        "lead": lead, "status": selectors.lead_status_for(request.user, lead),
        "timeline": selectors.lead_timeline(request.user, lead), "section": "leads"})


@partner_required
def products_view(request):
    products = [(product, selectors.pending_revision(product)) for product in selectors.partner_products(request.user)]
    return _page(request, "products.html", {"products": products, "section": "products"})


@partner_required
def product_propose_view(request, product_id: str):
    """A change of product data, through the product API's own validation and review path."""
    product = _found(selectors.partner_product(request.user, product_id))
    initial = {"data": json.dumps(product_data(product), indent=2, ensure_ascii=False)}
    form = ProposeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        serializer = ProductDataSerializer(data=form.cleaned_data["data"])
        if serializer.is_valid():
            try:
                product_lender_submit(lender=product.lender, data=dict(serializer.validated_data),
                                      product_id=product.product_id)
                return redirect(reverse("partners:products") + "?proposed=" + product.product_id)
            except ValidationError as error:
                form.add_error(None, "; ".join(error.messages))
        else:
            form.add_error(None, "; ".join(f"{name}: {' '.join(map(str, errors))}"
                                           for name, errors in serializer.errors.items()))
    return _page(request, "product_propose.html", {"product": product, "form": form, "section": "products"})


@partner_required
def sla_view(request):
    return _page(request, "sla.html", {"boards": selectors.partner_scoreboards(request.user),
                                       "window_days": selectors.SLA_WINDOW.days, "section": "sla"})
