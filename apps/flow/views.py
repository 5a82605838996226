"""The hosted consumer flow: catalog → identity → decision → offer → details → hand-off.

Views only validate input, call one service of apps.leads and pick the page. The lead's status
decides which page is valid (apps.leads.selectors.journey_step): every journey page that does
not fit the status redirects to the one that does, so a reload, the back button or an old tab
always lands somewhere valid.

Journey URLs carry the lead's unguessable public token, never personal data, and only the
browser session that started a journey may open its pages.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.campaigns.services import DeliveryRefused
from apps.flow.journeys import (
    client_ip,
    journey_page,
    not_found,
    owned_tokens,
    prefill_for,
    prefill_keep,
    rate_limited,
    request_language,
    SeeOther,
    session_journey,
    session_remember,
    step_url,
)
from apps.flow.forms import (
    CONSENT_FIELDS,
    IDENTITY_EXTRA_FIELDS,
    DetailsForm,
    IdentityForm,
    OfferChoiceForm,
    ResultEmailForm,
)
from apps.flow.live import journey_live_state, waiting_context
from apps.leads.consents import consent_text_for_journey, consent_text_published
from apps.flow.selectors import COMPARE_SORTS, DEFAULT_SORT, compare_offers, compare_progress
from apps.leads.models import Lead, LeadStatus
from apps.leads.selectors import (
    LENDER_REPORTED_STATUSES,
    JourneyStep,
    journey_get,
    journey_has_ended,
    journey_is_waiting,
    journey_offers,
)
from apps.leads.services import (
    ConsentRevoked,
    ConsentsGiven,
    JourneyError,
    journey_compare_identity_submit,
    journey_compare_request,
    journey_compare_start,
    journey_details_submit,
    journey_handoff,
    journey_identity_submit,
    journey_language_set,
    journey_listing_change,
    journey_offer_choose,
    journey_origin_reference_set,
    journey_retry,
    journey_start,
)
from apps.leads.engine.requests import lead_extra_data_set
from apps.leads.waiting import ResultEmailRefused, journey_result_email_request
from apps.leads.selectors import decision_notice_html, rejection_category
from apps.lenders.models import CircuitState
from apps.lenders.selectors import journey_fields_for, lender_required_fields, rejection_sentence
from apps.campaigns.catalog import catalog_entry, catalog_for_origin
from apps.campaigns.catalog import catalog_views_record
from apps.origins.models import Origin
from apps.origins.selectors import origin_get_active, origin_list_active
from apps.origins.services import DEEP_LINK_FIELDS, DEEP_LINK_TOKEN_PARAMETER, DeepLinkRefused, deep_link_receive
from apps.postbacks.selectors import lead_timeline_public
from apps.legal.selectors import consent_text_current, data_controller_get
from apps.products.selectors import product_kind_names

logger = logging.getLogger(__name__)

# --- Entry pages ---------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"origins": origin_list_active()})


@require_GET
def catalog(request: HttpRequest, origin_code: str) -> HttpResponse:
    origin = origin_get_active(code=origin_code)
    if origin is None:
        return not_found(request)
    if any(name in request.GET for name in (*DEEP_LINK_FIELDS, "sig", DEEP_LINK_TOKEN_PARAMETER)):
        # A deep link: keep its verified prefill server-side and leave the address bar clean at once.
        _deep_link_receive(request, origin)
        return HttpResponseRedirect(reverse("flow:catalog", args=[origin.code]))
    in_progress = session_journey(request, origin)
    if in_progress is not None and (in_progress.status == LeadStatus.NEW or journey_has_ended(in_progress)):
        in_progress = None  # nothing to resume: a choice here starts (or re-points) a journey
    entries = catalog_for_origin(origin=origin)
    catalog_views_record(origin=origin, entries=entries)
    context = {"origin": origin, "entries": entries, "in_progress": in_progress,
               "kind_names": product_kind_names(entry.listing.product.kind for entry in entries),
               "card_seconds": settings.CATALOG_CARD_SECONDS}
    return render(request, "flow/catalog.html", context)


def _deep_link_receive(request: HttpRequest, origin: Origin) -> None:
    """Open an origin's entry link (apps.origins.services.deep_link_receive) and keep its prefill,
    encrypted, in the session. A refused one is ignored and its reason logged (the reason names
    no personal data); the consumer goes on with empty forms, never an error."""
    try:
        prefill = deep_link_receive(origin=origin, params=request.GET.dict())
    except DeepLinkRefused as refusal:
        logger.info("Deep link prefill ignored for origin %s: %s", origin.code, refusal)
        return
    if DEEP_LINK_TOKEN_PARAMETER not in request.GET:
        # Accepted behind the origin's legacy switch: say so, for staff to move the origin on.
        logger.warning("Deep link of origin %s in the legacy plain form: personal data was in its URL.", origin.code)
    prefill_keep(request, origin, prefill)


@require_POST
@rate_limited("start")
def start(request: HttpRequest, origin_code: str) -> HttpResponse:
    """Choose a listing: re-point an unfinished journey, resume one further along, or start one."""
    origin = origin_get_active(code=origin_code)
    if origin is None:
        return not_found(request)
    if origin.compare_mode:
        return _compare_start(request, origin)
    entry = catalog_entry(origin=origin, listing_id=request.POST.get("listing_id", ""))
    if entry is None:
        messages.info(request, _("Esa oferta ya no está disponible. Elige otra de la lista."))
        return SeeOther(reverse("flow:catalog", args=[origin.code]))
    lead = session_journey(request, origin)
    if lead is not None and lead.status == LeadStatus.NEW:
        journey_listing_change(lead=lead, listing=entry.listing, campaign=entry.campaign)
    elif lead is None or journey_has_ended(lead):
        lead = journey_start(origin=origin, listing=entry.listing, campaign=entry.campaign)
        journey_language_set(lead=lead, language=request_language(request))
        journey_origin_reference_set(lead=lead, reference=prefill_for(request, origin).get("reference", ""))
        session_remember(request, origin, lead)
    return SeeOther(step_url(lead))


def _compare_start(request: HttpRequest, origin: Origin) -> HttpResponse:
    """Compare mode: one journey for every lender; an unfinished one is continued."""
    lead = session_journey(request, origin)
    if lead is None or journey_has_ended(lead) or not lead.compare_mode:
        lead = journey_compare_start(origin=origin)
        journey_language_set(lead=lead, language=request_language(request))
        journey_origin_reference_set(lead=lead, reference=prefill_for(request, origin).get("reference", ""))
        session_remember(request, origin, lead)
    return SeeOther(step_url(lead))


# --- Journey pages -------------------------------------------------------------------------------


@journey_page()
def resume(request: HttpRequest, lead: Lead) -> HttpResponse:
    return HttpResponseRedirect(step_url(lead))


@journey_page(methods=("GET",))
def state(request: HttpRequest, lead: Lead) -> HttpResponse:
    """What the waiting pages poll when they cannot hold an event stream (apps/flow/live.py): the
    page's live state, nothing personal."""
    return JsonResponse({"state": journey_live_state(lead)})


def _journey_context(lead: Lead, **extra) -> dict:
    return {"lead": lead, "origin": lead.origin, "waiting": journey_is_waiting(lead), **extra}


def _identity_form(request: HttpRequest, lead: Lead) -> IdentityForm:
    """Identity and income, plus what the chosen lender's adapter declares it needs (birth date,
    region, amount) and nothing more; prefilled from the deep link and what the journey holds."""
    if lead.compare_mode:  # asked once for every lender that will be asked
        lenders = [entry.campaign.lender for entry in catalog_for_origin(origin=lead.origin)]
        declared = tuple(journey_fields_for(lenders))
    else:
        declared = lender_required_fields(lead.lender) if lead.lender_id else ()
    extra = tuple(name for name in declared if name in IDENTITY_EXTRA_FIELDS)
    initial = {"full_name": prefill_for(request, lead.origin).get("name", "")}
    if lead.requested_amount:
        initial["requested_amount"] = lead.requested_amount
    if lead.region:
        initial["region"] = lead.region
    current = consent_text_for_journey(lead, language=request_language(request))
    data, changed = request.POST or None, False
    if data is not None and data.get("consent_text"):
        posted = consent_text_published(pk=data.get("consent_text"), language=request_language(request),
                                        compare_mode=lead.compare_mode)
        if posted is None and current is not None:
            # The page was shown with a text no longer valid here (another language, a tampered
            # form): show the current one, whose boxes the consumer must tick again.
            data = data.copy()
            data["consent_text"] = str(current.pk)
            for name in CONSENT_FIELDS:
                data.pop(name, None)
            changed = True
        else:
            current = posted
    form = IdentityForm(data, extra_fields=extra, initial=initial, consent_text=current)
    form.consent_text_changed = changed
    return form


def _consent_lenders(lead: Lead) -> list[str]:
    """Compare mode: the lenders the consumer's data goes to, as the consent text promises to
    list them (those the fan-out asks: active, circuit not open; apps.leads.engine.compare)."""
    if not lead.compare_mode:
        return []
    names: list[str] = []
    for entry in catalog_for_origin(origin=lead.origin):
        lender = entry.campaign.lender
        if lender.is_active and lender.circuit_state != CircuitState.OPEN and lender.name not in names:
            names.append(lender.name)
    return names


@journey_page(JourneyStep.IDENTITY, methods=("GET", "POST"))
@rate_limited("post")
def identity(request: HttpRequest, lead: Lead) -> HttpResponse:
    form = _identity_form(request, lead)
    if request.method == "POST" and form.is_valid():
        # The extra data, then the identity with its consents (one transaction), are stored
        # before the lender is asked (its task starts on commit). A second submit finds the
        # journey moved on and changes nothing (journey_page).
        # The text the page showed; a form without it (a client that does not send it) accepts
        # the current one, which is what this page shows now.
        text = consent_text_published(pk=form.cleaned_data["consent_text"], language=request_language(request),
                                      compare_mode=lead.compare_mode) or form.consent_text
        consents = ConsentsGiven(kinds=tuple(form.accepted_consents()), text_version=text.version,
                                 ip_address=client_ip(request), text_id=text.pk, language=text.language)
        if form.extra_data():
            lead_extra_data_set(lead=lead, values=form.extra_data())
        if lead.compare_mode:
            journey_compare_identity_submit(lead=lead, identity=form.identity(), consents=consents,
                                            entries=catalog_for_origin(origin=lead.origin))
            return SeeOther(step_url(lead, JourneyStep.DECISION))
        try:
            journey_identity_submit(lead=lead, identity=form.identity(), consents=consents)
        except DeliveryRefused as refusal:
            return _listing_unavailable(request, refusal, form)
        return SeeOther(step_url(lead, JourneyStep.DECISION))
    return _render_identity(request, lead, form)


def _render_identity(request: HttpRequest, lead: Lead, form: IdentityForm) -> HttpResponse:
    text = consent_text_published(pk=form["consent_text"].value(), language=request_language(request),
                                  compare_mode=lead.compare_mode) or form.consent_text
    return render(request, "flow/identity.html", _journey_context(
        lead, form=form, consent_text=text, consent_lenders=_consent_lenders(lead)))


def _listing_unavailable(request: HttpRequest, refusal: DeliveryRefused, form: IdentityForm) -> HttpResponse:
    """The chosen listing can no longer take this application (a cap, its budget, or its
    conditions for the data given): point the journey at the next listing the consumer qualifies
    for and ask them to confirm, their answers still in the form; with none left, the catalog."""
    previous = refusal.lead.listing.title
    entry = refusal.next_entry
    lead = journey_get(public_token=refusal.lead.public_token)  # as stored: the refused step left no trace
    if entry is None or not journey_listing_change(lead=lead, listing=entry.listing, campaign=entry.campaign):
        messages.info(request, _("Esa oferta ya no puede recibir tu solicitud. Elige otra de la lista."))
        return SeeOther(reverse("flow:catalog", args=[lead.origin.code]))
    messages.info(request, _("%(previous)s ya no puede recibir tu solicitud. Te proponemos %(listing)s de %(lender)s: "
                             "revisa tus datos y envíalos para continuar.") % {
        "previous": previous, "listing": entry.listing.title, "lender": entry.campaign.lender.name})
    lead = journey_get(public_token=lead.public_token)
    return _render_identity(request, lead, form)


def _rejection(lead: Lead) -> dict:
    """Why the lender said no, in a sentence safe to show (never the lender's own words), and
    the adverse action notice it gave, sanitized."""
    decision = lead.decisions.filter(lender_id=lead.lender_id).first() if lead.lender_id else None
    if decision is None:
        return {}
    return {"rejection_sentence": rejection_sentence(rejection_category(decision)),
            "rejection_notice": decision_notice_html(decision)}


def _choosable_offers(lead: Lead) -> list:
    if lead.status != LeadStatus.OFFERED:
        return []
    if lead.compare_mode:
        return [item.offer for group in compare_offers(lead=lead) for item in group.offers]
    return journey_offers(lead=lead)


def _render_compare(request: HttpRequest, lead: Lead, form: OfferChoiceForm | None = None,
                    email_form: ResultEmailForm | None = None) -> HttpResponse:
    """Compare mode: offers appear as each lender answers, grouped by amount and sortable."""
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in COMPARE_SORTS else DEFAULT_SORT
    progress = compare_progress(lead=lead)
    groups = compare_offers(lead=lead, sort=sort) if lead.status == LeadStatus.OFFERED else []
    if form is None:
        form = OfferChoiceForm(offers=[], initial={"offer": lead.chosen_offer_id})
    context = _journey_context(
        lead, groups=groups, form=form, progress=progress, sort=sort,
        sorts=[(key, label) for key, (label, _key) in COMPARE_SORTS.items()],
        offer_count=sum(len(group.offers) for group in groups),
        **waiting_context(lead, progress=progress, email_form=email_form),
    )
    context["waiting"] = context["waiting"] or (lead.status == LeadStatus.OFFERED and not progress.complete)
    return render(request, "flow/compare.html", context)


def _render_decision(request: HttpRequest, lead: Lead, form: OfferChoiceForm | None = None,
                     email_form: ResultEmailForm | None = None) -> HttpResponse:
    if lead.compare_mode:
        return _render_compare(request, lead, form, email_form)
    offers = journey_offers(lead=lead) if lead.status == LeadStatus.OFFERED else []
    if form is None and offers:
        form = OfferChoiceForm(offers=offers, initial={"offer": lead.chosen_offer_id})
    extra = _rejection(lead) if lead.status == LeadStatus.NOT_ELIGIBLE else {}
    extra.update(waiting_context(lead, email_form=email_form))
    return render(request, "flow/decision.html", _journey_context(lead, offers=offers, form=form, **extra))


@journey_page(JourneyStep.DECISION, JourneyStep.DETAILS)
def decision(request: HttpRequest, lead: Lead) -> HttpResponse:
    return _render_decision(request, lead)


@journey_page(JourneyStep.DECISION, JourneyStep.DETAILS, methods=("POST",))
@rate_limited("post")
def offer_choose(request: HttpRequest, lead: Lead) -> HttpResponse:
    if lead.status != LeadStatus.OFFERED:
        return SeeOther(step_url(lead))
    form = OfferChoiceForm(request.POST, offers=_choosable_offers(lead))
    if form.is_valid():
        try:
            journey_offer_choose(lead=lead, offer_id=form.cleaned_data["offer"])
        except JourneyError:
            form.add_error("offer", _("Esa oferta ya no está disponible; elige otra."))
        else:
            return SeeOther(step_url(lead, JourneyStep.DETAILS))
    return _render_decision(request, lead, form)


@journey_page(JourneyStep.DECISION, methods=("POST",))
@rate_limited("post")
def result_email(request: HttpRequest, lead: Lead) -> HttpResponse:
    """"Email me the answer": the consumer may leave a slow wait; the decision is emailed with
    the private status link when it arrives (apps/leads/waiting.py). A repeat changes nothing."""
    form = ResultEmailForm(request.POST)
    if not form.is_valid():
        return _render_decision(request, lead, email_form=form)
    try:
        journey_result_email_request(lead=lead, email=form.cleaned_data["email"])
    except ResultEmailRefused:
        return SeeOther(step_url(lead))
    return SeeOther(step_url(lead, JourneyStep.DECISION))


@journey_page(methods=("POST",))
@rate_limited("post")
def retry(request: HttpRequest, lead: Lead) -> HttpResponse:
    """"Try again" after a technical failure: the same tracking ID goes to the lender again (in
    compare mode, to every lender whose ask failed)."""
    try:
        if lead.compare_mode and lead.status == LeadStatus.DECISION_FAILED:
            journey_compare_request(lead=lead, entries=catalog_for_origin(origin=lead.origin))
        else:
            journey_retry(lead=lead)
    except ConsentRevoked:
        return SeeOther(reverse("flow:consent", args=[lead.public_token]))
    return SeeOther(step_url(lead))


@journey_page(JourneyStep.DETAILS, methods=("GET", "POST"))
@rate_limited("post")
def details(request: HttpRequest, lead: Lead) -> HttpResponse:
    initial = {"phone": prefill_for(request, lead.origin).get("phone", ""), "email": lead.email}
    form = DetailsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            journey_details_submit(lead=lead, email=form.cleaned_data["email"], phone=form.cleaned_data["phone"])
        except JourneyError:
            return SeeOther(step_url(lead))
        # Through the interstitial: the 302 to the lender's site must not end the redirect chain of
        # this form POST, or the policy's form-action 'self' would block it.
        return SeeOther(step_url(lead, JourneyStep.HANDOFF) + "?" + INTERSTITIAL_PARAM)
    return render(request, "flow/details.html", _journey_context(lead, form=form, offer=lead.chosen_offer))


INTERSTITIAL_PARAM = "sent"


@journey_page(JourneyStep.HANDOFF)
def handoff(request: HttpRequest, lead: Lead) -> HttpResponse:
    """Wait for the submission, then send the consumer to the lender (DESIGN.md §6)."""
    if lead.status == LeadStatus.SUBMITTED and INTERSTITIAL_PARAM in request.GET:
        # A short page naming the lender; it moves on to this view without the parameter.
        return render(request, "flow/handoff.html", _journey_context(lead, interstitial=True))
    if lead.status in (LeadStatus.SUBMITTED, LeadStatus.HANDED_OFF):
        try:
            url = journey_handoff(lead=lead)
        except JourneyError:
            url = ""
        if urlsplit(url).scheme in ("https", "http"):
            return HttpResponseRedirect(url)
        # No usable lender address: a relative URL here would send the consumer back into our
        # own pages. Say so plainly; staff must fix the data.
        logger.error("Lead %s (tracking ID %s) has no usable lender redirect URL.", lead.pk, lead.tracking_id)
        return render(request, "flow/handoff.html", _journey_context(lead, handoff_broken=True))
    context = _journey_context(lead, reported_by_lender=lead.status in LENDER_REPORTED_STATUSES)
    return render(request, "flow/handoff.html", context)


# --- The status page, the legal texts ----------------------------------------------------------

# What each status means for the consumer, in plain words.
STATUS_SENTENCES = {
    LeadStatus.NEW: gettext_lazy("Empezaste tu solicitud, pero aún no nos diste tus datos."),
    LeadStatus.AWAITING_DECISION: gettext_lazy("Estamos consultando con la entidad."),
    LeadStatus.DECISION_PENDING: gettext_lazy(
        "La entidad está revisando tu solicitud. Seguiremos consultando; vuelve a este enlace cuando quieras."),
    LeadStatus.OFFERED: gettext_lazy("La entidad tiene ofertas para ti. Continúa tu solicitud para elegir una."),
    LeadStatus.NOT_ELIGIBLE: gettext_lazy("Por ahora la entidad no tiene una oferta para ti."),
    LeadStatus.DECISION_FAILED: gettext_lazy(
        "No pudimos obtener la respuesta de la entidad. No es tu culpa: continúa tu solicitud para intentarlo "
        "de nuevo."),
    LeadStatus.SUBMITTING: gettext_lazy("Estamos enviando tu solicitud a la entidad."),
    LeadStatus.SUBMISSION_FAILED: gettext_lazy(
        "No pudimos enviar tu solicitud. No es tu culpa: continúa tu solicitud para intentarlo de nuevo."),
    LeadStatus.SUBMITTED: gettext_lazy("Tu solicitud llegó a la entidad."),
    LeadStatus.HANDED_OFF: gettext_lazy("Tu solicitud está con la entidad: ella continúa el proceso contigo."),
    LeadStatus.PRE_APPROVED: gettext_lazy("La entidad preaprobó tu crédito."),
    LeadStatus.APPROVED: gettext_lazy("La entidad aprobó tu crédito."),
    LeadStatus.DISBURSED: gettext_lazy("La entidad desembolsó tu crédito."),
    LeadStatus.REJECTED: gettext_lazy("La entidad no aprobó tu crédito."),
    LeadStatus.CANCELLED: gettext_lazy("La solicitud se canceló."),
}
STATUS_LABELS = {
    LeadStatus.PRE_APPROVED: gettext_lazy("Preaprobado"),
    LeadStatus.APPROVED: gettext_lazy("Aprobado"),
    LeadStatus.DISBURSED: gettext_lazy("Desembolsado"),
    LeadStatus.REJECTED: gettext_lazy("No aprobado"),
    LeadStatus.CANCELLED: gettext_lazy("Cancelado"),
}


@never_cache
@require_GET
def status(request: HttpRequest, token: str) -> HttpResponse:
    """The private status link: the unguessable token is the key, so it opens from any browser
    (an email, another phone). It shows no personal data: the lender, the offer's name, the
    status in plain words and what the lender reported since (lead_timeline_public)."""
    lead = journey_get(public_token=token)
    if lead is None:
        return not_found(request)
    timeline = [
        {"label": STATUS_LABELS.get(entry.status, entry.status), "occurred_at": entry.occurred_at,
         "amount": entry.amount, "currency": entry.currency}
        for entry in lead_timeline_public(lead)
    ]
    context = {
        "lead": lead, "origin": lead.origin, "timeline": timeline,
        "sentence": STATUS_SENTENCES.get(lead.status, ""),
        "owned": token in owned_tokens(request),
    }
    return render(request, "flow/status.html", context)


@require_GET
def legal(request: HttpRequest) -> HttpResponse:
    """Terms, privacy policy and the personal-data processing authorization; the version named is
    the consent texts' latest published one, which the identity page records with each consent."""
    text = consent_text_current(language=request_language(request), compare_mode=False)
    return render(request, "flow/legal.html", {"text_version": text.version if text else "",
                                               "controller": data_controller_get()})
