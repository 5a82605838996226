"""Lender callbacks: POST /api/v1/lenders/callbacks/<token> (seed 002: a callback URL of ours
with an unguessable random identifier per lender, answered with a status code only).

The token in the URL is the authentication, so the view is a fixed pipeline with nothing to
negotiate: size → the engine (which finds the lender by token, parses the body with the
lender's adapter, finds the journey and records the decision). Statuses, each on purpose:
204 recorded (the lender stops); 400 a body its adapter cannot read; 404 an unknown token, a
lender whose style takes no callbacks, or a journey not known (yet: the lender retries, and our
record of its first answer may just not be committed); 413 too large; any 5xx (a database
outage) also makes the lender retry. The answer never has a body.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.leads.engine import callbacks


@csrf_exempt
@require_POST
def lender_callback(request: HttpRequest, token: str) -> HttpResponse:
    length = int(request.headers.get("Content-Length") or 0)
    if length > callbacks.CALLBACK_MAX_BYTES:
        return HttpResponse(status=413)
    return HttpResponse(status=callbacks.lender_callback_receive(token=token, body=request.body))
