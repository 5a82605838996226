"""Lender callbacks: POST /api/v1/lenders/callbacks/<token> (seed 002: a callback URL of ours
with an unguessable random identifier per lender, answered with a status code only).

The token in the URL is the authentication, so the view is a fixed pipeline with nothing to
negotiate: size → the engine (which finds the lender by token, parses the body with the
lender's adapter, finds the journey and records the decision); the body is read by the
shared inbound module (prosperas/inbound/), which holds it to the size limit. Statuses, each on purpose:
204 recorded (the lender stops); 400 a body its adapter cannot read; 404 an unknown token, a
lender whose style takes no callbacks, or a journey not known (yet: the lender retries, and our
record of its first answer may just not be committed); 413 too large; 429 over the rate limit of
the address or the token (LENDER_RATE_LIMITS), with Retry-After; any 5xx (a database outage)
also makes the lender retry. The answer never has a body.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.leads.engine import callbacks
from prosperas.inbound.body import body_read, client_ip
from prosperas.inbound.limits import ADDRESS, KEY, requests_count
from prosperas.inbound.refusals import InboundRefused


@csrf_exempt
@require_POST
def lender_callback(request: HttpRequest, token: str) -> HttpResponse:
    try:
        # Limited per address, then per token (the URL's token is this endpoint's key), before
        # anything is read: a 429 with Retry-After, which the lender retries after.
        counted = requests_count(endpoint="lender-callbacks", address=client_ip(request), key=token)
        counted.check(ADDRESS)
        counted.check(KEY)
        # By its Content-Length and by what is read: a chunked body has none.
        body = body_read(request, limit=callbacks.CALLBACK_MAX_BYTES)
    except InboundRefused as refusal:
        return HttpResponse(status=refusal.status, headers=refusal.headers)
    return HttpResponse(status=callbacks.lender_callback_receive(token=token, body=body))
