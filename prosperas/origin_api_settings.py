"""Settings of the origins' server-to-server API (apps/origin_api), read from the environment by
prosperas/settings.py. Each variable is listed in README.md."""

from __future__ import annotations


def origin_api_settings(env, *, testing: bool) -> dict:
    return {
        # OAuth2 client credentials (django-oauth-toolkit): one client per origin and environment, its
        # secret hashed at rest (shown once), tokens for the `leads` and `events` scopes.
        "OAUTH2_PROVIDER": {
            "SCOPES": {"leads": "Submit leads and read their status", "events": "Read the lead event feed"},
            "DEFAULT_SCOPES": ["leads", "events"],
            "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("ORIGIN_API_TOKEN_SECONDS", default=3600),
            "OAUTH2_VALIDATOR_CLASS": "apps.origin_api.oauth.OriginClientValidator",
            # RFC 9700 (OAuth 2.0 Security BCP), adopted now rather than at DOT 4.0: tokens kept only as a
            # SHA-256 checksum, never accepted in a query string; no implicit or password grant, no plain
            # PKCE, https redirect URIs only (nothing here redirects: client credentials only).
            "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
            "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
            "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
            "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
            "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
            "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
            "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
            "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
            "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
            "REFRESH_TOKEN_REUSE_PROTECTION": True,
            "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
        },
        # DOT's models are swappable: migrations that point at the application name this setting.
        "OAUTH2_PROVIDER_APPLICATION_MODEL": "oauth2_provider.Application",
        # How long an origin's lead may search for offers before its status ends `timed_out` (seed 002: ~120 s).
        "ORIGIN_API_SEARCH_TIMEOUT_SECONDS": env.int("ORIGIN_API_SEARCH_TIMEOUT_SECONDS", default=120),
        # How long the earlier clients of an origin and environment keep working after a new one is made.
        "ORIGIN_API_ROTATION_OVERLAP_HOURS": env.int("ORIGIN_API_ROTATION_OVERLAP_HOURS", default=24),
        # Callbacks to origins (apps/origin_api/callbacks.py): each attempt's deadline, the first retry's
        # delay (each next one three times longer, at most 6 h), the window after which a delivery is
        # given up, and how often beat sweeps for due deliveries and searches past their deadline.
        "ORIGIN_CALLBACK_TIMEOUT_SECONDS": env.float("ORIGIN_CALLBACK_TIMEOUT_SECONDS", default=5.0),
        "ORIGIN_CALLBACK_FIRST_RETRY_SECONDS": env.float("ORIGIN_CALLBACK_FIRST_RETRY_SECONDS", default=0.5 if testing else 10.0),
        "ORIGIN_CALLBACK_RETRY_HOURS": env.float("ORIGIN_CALLBACK_RETRY_HOURS", default=24.0),
        "ORIGIN_CALLBACK_SWEEP_SECONDS": env.float("ORIGIN_CALLBACK_SWEEP_SECONDS", default=5.0),
    }
