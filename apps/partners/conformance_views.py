"""The portal's conformance pages: a lender's people run the conformance kit (apps/conformance)
against their staging row and read each run's report, as staff do in admin. A passing run's
certificate is what staff need before activating the production row."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from apps.conformance.models import Certificate, ConformanceRun
from apps.conformance.report import report_checks
from apps.conformance.selectors import certificate_valid_for
from apps.conformance.services import conformance_run_start
from apps.lenders.models import Lender
from apps.partners import selectors
from apps.partners.views import _page, partner_required

RUNS_SHOWN = 10


def _staging_rows(user) -> list[Lender]:
    return list(selectors.partner_lenders(user).filter(environment=Lender.Environment.STAGING))


@partner_required
def conformance_view(request):
    rows = [
        {"lender": lender, "certificate": certificate_valid_for(lender),
         "runs": list(ConformanceRun.objects.filter(lender=lender).order_by("-created_at")[:RUNS_SHOWN])}
        for lender in _staging_rows(request.user)
    ]
    return _page(request, "conformance.html", {"rows": rows, "section": "conformance",
                                               "refused": request.GET.get("refused", "")})


@partner_required
@require_POST
def conformance_start_view(request, lender_id: int):
    lender = selectors.partner_lender(request.user, lender_id)
    if lender is None or lender.environment != Lender.Environment.STAGING:
        raise Http404
    try:
        run = conformance_run_start(lender=lender, user=request.user)
    except ValidationError as exc:
        return redirect(f"{reverse('partners:conformance')}?{urlencode({'refused': '; '.join(exc.messages)[:200]})}")
    return redirect("partners:conformance_run", run_id=run.pk)


@partner_required
def conformance_run_view(request, run_id: int):
    lenders = selectors.partner_lenders(request.user)
    run = ConformanceRun.objects.select_related("lender").filter(pk=run_id, lender__in=lenders).first()
    if run is None:
        raise Http404
    return _page(request, "conformance_run.html", {
        "run": run, "checks": report_checks(run), "certificate": Certificate.objects.filter(run=run).first(),
        "refresh": not run.finished, "section": "conformance",
    })
