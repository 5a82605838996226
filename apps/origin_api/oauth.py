"""OAuth2 for the origins' API (django-oauth-toolkit, client credentials): the token endpoint's
validator refuses retired clients, and the API's authentication names the origin and
environment a token speaks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework.exceptions import AuthenticationFailed

from apps.origin_api.models import OriginApiClient
from apps.origin_api.selectors import origin_client_for_application
from apps.origins.models import Origin


class OriginClientValidator(OAuth2Validator):
    """DOT's validator (settings OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]), plus: only a client
    that speaks for an origin and has not retired gets a token (else `invalid_client`, 401)."""

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        client = origin_client_for_application(application_id=request.client.pk)
        return client is not None and client.is_active() and client.origin.is_active


@dataclass(frozen=True)
class OriginCaller:
    """Who called: request.user of the API's views."""

    client: OriginApiClient

    is_authenticated = True

    @property
    def origin(self) -> Origin:
        return self.client.origin

    @property
    def environment(self) -> str:
        return self.client.environment


class OriginTokenAuthentication(OAuth2Authentication):
    """A bearer token from POST /api/v1/oauth2/token, of a client that is still active."""

    www_authenticate_realm = "prosperas-origin-api"

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        _user, token = result
        client = origin_client_for_application(application_id=token.application_id)
        if client is None or not client.is_active() or not client.origin.is_active:
            raise AuthenticationFailed("This token's client has been retired: get a token with your current "
                                       "credentials.", code="client_retired")
        return OriginCaller(client=client), token
