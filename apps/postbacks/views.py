"""POST /api/v1/postbacks, its tester, and the lender-facing documentation page.

The endpoint is a fixed pipeline, each step refusing with its own status (DESIGN.md §5):
the address's rate limit (429) → size (413) → content type (415) → authentication on the raw
bytes (401) → the key's rate limit (429) → JSON object (400) → strict serializer (400) →
`postback_ingest`, which spends the nonce with the event (401 on a replay; else 202, or 404
when unmatched).

The tester (POST /api/v1/postbacks/test) runs the same pipeline with the tester's
authentication (staging credentials, nothing counted, nonces of its own) and ends in
`postback_simulate` instead: same status codes and bodies, `"test": true`, no event recorded.
"""

from functools import partial

from django.http import JsonResponse
from django.utils import translation
from django.views.generic import TemplateView
from drf_spectacular.utils import extend_schema

from apps.postbacks import docs, services
from apps.postbacks.metrics import postback_observe
from apps.postbacks.schema import POSTBACK_SCHEMA, POSTBACK_TESTER_SCHEMA
from apps.postbacks.selectors import lookalike_sentence
from apps.postbacks.serializers import postback_body_validate
from apps.postbacks.services import (
    LenderChanged,
    PostbackData,
    postback_authenticate,
    postback_ingest,
    postback_simulate,
    postback_test_authenticate,
)
from prosperas.inbound.refusals import AuthenticationRefused, InboundRefused
from prosperas.inbound.schema import SignedRequestSchema
from prosperas.inbound.views import LENDER_LANGUAGE, Received, SignedInboundView, answer


class PostbackIngestView(SignedInboundView):
    http_method_names = ["post"]
    schema = SignedRequestSchema()  # declares the HMAC and bearer security schemes
    authenticate = staticmethod(postback_authenticate)
    www_authenticate = 'Prosperas-HMAC realm="postbacks", Bearer realm="postbacks"'
    rate_limit_name = "postbacks"
    counted = True  # every answer is counted in the metrics (the tester's are not)
    sender = None  # the lender, once the request authenticated

    def dispatch(self, request, *args, **kwargs):
        """POST is answered here, on Django's request: DRF's request wrapper, authentication,
        content negotiation and renderer would do nothing for it (it authenticates on the raw
        body and always answers JSON) but cost a measurable share of each postback
        (bench/postbacks.py). Other methods go through DRF, to a 405 that says why."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        with translation.override(LENDER_LANGUAGE):  # as SignedInboundView.dispatch
            try:
                return self.post(request)
            except (AuthenticationRefused, InboundRefused) as exc:
                return self.refusal(exc)

    @extend_schema(**POSTBACK_SCHEMA)
    def post(self, request):
        received = self.receive(request)
        self.sender = received.authenticated.lender
        data = PostbackData(**postback_body_validate(received.data))
        try:
            outcome = _ingest(received, data)
        except LenderChanged:
            # Staff changed the lender's credentials since this process read them: the request is
            # decided again on the lender as stored now, which nothing can have changed since.
            received = self.receive(request, authenticate=partial(postback_authenticate, fresh=True),
                                    raw_body=received.raw_body)
            outcome = _ingest(received, data)
        postback_observe(lender=self.sender, outcome="accepted" if outcome.matched else "unmatched",
                         reason=str(outcome.effect))
        return RESPONDERS[outcome.matched](outcome)

    def refusal(self, exc: AuthenticationRefused | InboundRefused):
        if self.counted:
            reason = exc.reason if isinstance(exc, AuthenticationRefused) else exc.error
            postback_observe(lender=getattr(exc, "sender", None) or self.sender, outcome="refused", reason=reason)
        return super().refusal(exc)

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise InboundRefused(405, "method_not_allowed", f"Use POST {request.path}; {request.method} is not allowed.")


def _ingest(received: Received, data: PostbackData) -> services.PostbackOutcome:
    authenticated = received.authenticated
    return postback_ingest(
        lender=authenticated.lender, data=data, raw_body=received.raw_body, headers=received.audit_headers,
        source_ip=received.client_ip, nonce=authenticated.nonce, lender_stored=authenticated.lender_stored,
    )


def _accepted(outcome: services.PostbackOutcome) -> JsonResponse:
    """The shape of PostbackAcceptedSerializer (which documents it), built directly: this is the
    hot path, and a serializer's fields are deep-copied on every instantiation."""
    body = {"event": outcome.event_pk, "status": "accepted", "lead_status": outcome.lead_status,
            "repeat": outcome.is_repeat, "effect": str(outcome.effect)}
    return answer(body, status=202)


UNMATCHED_MESSAGE = "None of your applications has this click_id (compared byte for byte)"


def _unmatched(outcome: services.PostbackOutcome) -> JsonResponse:
    body = {"error": "unknown_click_id", "event": outcome.event_pk,
            "message": f"{UNMATCHED_MESSAGE}; the event was recorded for reconciliation."
                       + lookalike_sentence(outcome.looks_like)}
    if outcome.looks_like:
        body["looks_like"] = outcome.looks_like
    return answer(body, status=404)


# By whether the event matched one of the lender's applications.
RESPONDERS = {True: _accepted, False: _unmatched}


class PostbackTesterView(PostbackIngestView):
    """What POST /api/v1/postbacks would have answered, recording nothing (staging credentials)."""

    refusal_fields = {"test": True}
    rate_limit_name = "postback-tester"
    counted = False

    authenticate = staticmethod(postback_test_authenticate)

    @extend_schema(**POSTBACK_TESTER_SCHEMA)
    def post(self, request):
        received = self.receive(request)
        data = PostbackData(**postback_body_validate(received.data))
        simulation = postback_simulate(lender=received.authenticated.lender, data=data)
        return TESTER_RESPONDERS[simulation.matched](simulation)


def _would_accept(simulation: services.PostbackSimulation) -> JsonResponse:
    moved = f"move the application from {simulation.lead_status_before} to {simulation.lead_status}"
    effects = {"applied": moved, "no_change": f"leave the application {simulation.lead_status}",
               "contradicts": f"leave the application {simulation.lead_status} and flag the event for review"}
    body = {"test": True, "event": None, "status": "accepted", "lead_status": simulation.lead_status,
            "repeat": simulation.is_repeat, "effect": simulation.effect,
            "message": f"Test only, nothing recorded: the endpoint would accept this postback and "
                       f"{effects[simulation.effect]}."}
    return answer(body, status=202)


def _would_not_match(simulation: services.PostbackSimulation) -> JsonResponse:
    body = {"test": True, "error": "unknown_click_id", "event": None,
            "message": f"Test only, nothing recorded: {UNMATCHED_MESSAGE}; the endpoint would record the event "
                       "for reconciliation and answer 404." + lookalike_sentence(simulation.looks_like)}
    if simulation.looks_like:
        body["looks_like"] = simulation.looks_like
    return answer(body, status=404)


TESTER_RESPONDERS = {True: _would_accept, False: _would_not_match}


class PostbackDocsView(TemplateView):
    """The contract for lenders, with signing examples that the test suite runs."""

    template_name = "postbacks/docs.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **docs.docs_context(self.request)}
