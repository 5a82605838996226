"""OAuth2 client-credentials tokens for lenders that want a bearer token (seeds 002 and 003).

"Cache tokens and refresh before expiry" (seed 002): a token is fetched once and kept in
Django's cache (Redis in production and CI, so every worker thread and process shares it) until
a margin before it expires; a 401 on a call drops it, and the adapter fetches a fresh one and
tries that call once more. A cold cache with many threads at once (a compare fan-out) fetches
one token per process, not one per thread: a per-key lock makes the others wait for it.

The token is stored encrypted (prosperas.crypto): the cache is not where a lender's bearer
credential should sit in clear. The cache key hashes the endpoint and the client credentials,
so rotating the secret in admin starts a new token.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.cache import cache

from apps.lenders.adapters.base import PermanentFailure, TechnicalFailure
from prosperas.crypto import DecryptionError, decrypt, encrypt

if TYPE_CHECKING:
    from apps.lenders.http import HttpResponse, LenderHttpClient

# A token is refreshed this long before the lender says it expires (at most a fifth of its life).
REFRESH_MARGIN_SECONDS = 60
DEFAULT_EXPIRES_IN = 300
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class ClientCredentialsToken:
    """One lender's token endpoint: `get()` a cached bearer token, `invalidate()` after a 401."""

    def __init__(
        self, http: LenderHttpClient, *, lender_code: str, token_path: str, client_id: str, client_secret: str,
        extra_form: dict[str, str] | None = None,
    ):
        self.http = http
        self.token_path = token_path
        self.form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                     **(extra_form or {})}
        identity = f"{http.base_url}|{token_path}|{client_id}|{client_secret}".encode()
        self.cache_key = f"lender-token:{lender_code}:{hashlib.sha256(identity).hexdigest()[:24]}"

    def get(self) -> str:
        token = self._cached()
        if token:
            return token
        with _lock_for(self.cache_key):
            return self._cached() or self._fetch()

    def invalidate(self) -> None:
        cache.delete(self.cache_key)

    def _cached(self) -> str:
        stored = cache.get(self.cache_key)
        if not stored:
            return ""
        try:
            return decrypt(stored)
        except DecryptionError:  # keys rotated: fetch a new token
            return ""

    def _fetch(self) -> str:
        response = self.http.request("POST", self.token_path, form=self.form)
        response.raise_for_transport_status()
        if response.status in (400, 401, 403):
            # RFC 6749 §5.2: invalid_client / unauthorized_client. Our credentials are wrong.
            raise PermanentFailure(
                f"Lender refused our client credentials (HTTP {response.status}).", exchange=response.exchange
            )
        if response.status != 200:
            raise TechnicalFailure(f"Token endpoint answered HTTP {response.status}.", exchange=response.exchange)
        data = response.json_object()
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TechnicalFailure("Token endpoint answered without an access_token.", exchange=response.exchange)
        expires_in = data.get("expires_in", DEFAULT_EXPIRES_IN)
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            expires_in = DEFAULT_EXPIRES_IN
        # Whole seconds: Redis expiries are (Django's cache truncates a fraction to 0 = gone).
        keep = int(expires_in - min(REFRESH_MARGIN_SECONDS, expires_in / 5))
        cache.set(self.cache_key, encrypt(token), timeout=max(keep, 1))
        return token


def bearer_request(
    http: LenderHttpClient, tokens: ClientCredentialsToken, method: str, path: str, *,
    headers: dict[str, str] | None = None, scheme: str = "Bearer",
    refresh_on: Callable[[HttpResponse], bool] = lambda response: True, **kwargs: Any,
) -> HttpResponse:
    """A request with the cached bearer token. A 401 means the token expired or was revoked
    before the cache let it go: drop it, fetch a fresh one and send the request once more (the
    same Idempotency-Key, so the lender sees one request). A second 401 is the lender's answer.
    `refresh_on` can say that a 401 is about something else (seed 003's partner code)."""
    response = http.request(method, path, headers={**(headers or {}), "Authorization": f"{scheme} {tokens.get()}"}, **kwargs)
    if response.status == 401 and refresh_on(response):
        tokens.invalidate()
        response = http.request(method, path, headers={**(headers or {}), "Authorization": f"{scheme} {tokens.get()}"}, **kwargs)
    return response
