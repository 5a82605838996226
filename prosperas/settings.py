"""Prosperas settings: one module, configured only through environment variables.

Every variable read here is listed in README.md with its default. PostgreSQL and Redis are
required everywhere (DATABASE_URL, REDIS_URL): `make run` and `make test` start private ones from
pip packages when they are unset (prosperas/embedded.py); secrets have no default outside DEBUG.
"""

import ipaddress
import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from prosperas.logging_config import logging_config
from prosperas.settings_backoffice import backoffice_settings
from prosperas.origin_api_settings import origin_api_settings
from prosperas.partner_settings import partner_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# pytest sets PYTEST_VERSION for the whole run, and processes the tests start (a Celery worker)
# inherit it, so both sides agree on the shortened timeouts below.
TESTING = env.bool("PROSPERAS_TESTING", default="PYTEST_VERSION" in os.environ)

if DEBUG or TESTING:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-only-secret-key-change-me")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Personal data and lender secrets are encrypted at rest with these Fernet keys; the first one
# encrypts, every one decrypts (so a key can be rotated in). See prosperas/crypto.py.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    # Before the admin: its TranslationAdmin shows each translated field once per language.
    "modeltranslation",
    "prosperas.admin_config.StaffAdminConfig",  # django.contrib.admin behind a second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "prosperas.apps.ProsperasConfig",
    "apps.origins",
    "apps.legal",
    "apps.lenders",
    "apps.products",
    "apps.listings",
    "apps.campaigns",
    "apps.leads",
    "apps.postbacks",
    "apps.flow",
    "apps.origin_api",
    "apps.sandbox",
    "apps.conformance",
    "apps.partners",
    "oauth2_provider",
    "apps.backoffice",
    "apps.lifecycle",
    "apps.operations",
    "apps.reports",
    "csp",
    "django_ratelimit",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "auditlog",
]

MIDDLEWARE = [
    # First: every line a request logs carries its id, and its latency counts everything below.
    "prosperas.logcontext.RequestIdMiddleware",
    "apps.operations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the consumer's language from the switch's cookie, else the
    # browser's Accept-Language, else LANGUAGE_CODE (Spanish, Colombia).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the staff's second factor
    "apps.backoffice.middleware.StaffAuditlogMiddleware",  # the staff user behind each audited change
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

ROOT_URLCONF = "prosperas.urls"
WSGI_APPLICATION = "prosperas.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database, cache, broker ------------------------------------------------------------------
# The same engines everywhere: PostgreSQL and Redis (Valkey in the private servers of `make run`
# and `make test`). There is no fallback: a missing URL is an error, not a SQLite file.
def _required_url(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. PostgreSQL and Redis are required: set DATABASE_URL and REDIS_URL, or "
            "use `make run` / `make test`, which start private servers when they are unset "
            "(`python -m prosperas.embedded run -- COMMAND`, or "
            '`eval "$(python -m prosperas.embedded start)"` for a shell).'
        )
    return value


DATABASES = {"default": env.db_url_config(_required_url("DATABASE_URL"))}
if DATABASES["default"].get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must be a PostgreSQL URL (postgres://...), not {DATABASES['default'].get('ENGINE')!r}."
    )
# Each process keeps a pool of connections (psycopg's pool through Django): a thread takes one
# when it first queries and gives it back when Django closes it, at the end of every request
# and task, and before any wait on a lender (prosperas/db.py). So a worker's hundred threads
# waiting on lenders share DATABASE_POOL_MAX_SIZE connections, and nothing connects anew per
# request. A thread finding every connection busy waits up to DATABASE_POOL_TIMEOUT seconds.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections, not the threads
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
    "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=16),
    "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
    # A connection idle this long is closed (down to min_size), one older than this is renewed.
    "max_idle": 300,
    "max_lifetime": 1800,
}
# Each connection is pinged as it is handed out: a database restart costs a reconnect, not an
# error for the request or task that draws a dead connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg binds parameters on the server and prepares a statement once it has run
# prepare_threshold times on a connection: the hot statements written in SQL (prosperas/sql.py)
# and the ORM's frequent ones are parsed and planned once per connection (pooled connections
# keep them). Turn off behind a pooler in transaction mode without prepared statement support.
DATABASES["default"]["OPTIONS"].update(
    server_side_binding=True,
    prepare_threshold=5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
)
# Behind PgBouncer in transaction mode, a server-side cursor (QuerySet.iterator()) would outlive the
# transaction its server connection was lent for: Django then reads with client-side cursors.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_TRANSACTION_POOLER", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _required_url("REDIS_URL")
CACHES = {
    "default": {"BACKEND": "prosperas.cache.RedisCache", "LOCATION": REDIS_URL},  # Django's, clients reused
    # Rendered page pieces that hold nothing of a request (the catalog's cards), in each process.
    "fragments": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 5000}},
}
# How long a rendered catalog card is kept (keyed by its listing's and product's last change and
# the language, so an edit shows at once; an update that bypasses save() shows within this).
CATALOG_CARD_SECONDS = env.int("CATALOG_CARD_SECONDS", default=60)

# --- Celery -----------------------------------------------------------------------------------
# The broker is Redis. It can still lose in-flight messages (a broker restart, a kill -9), which
# is one reason the database, not the broker, says which lender work is due (see the sweep task).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_KEYPREFIX = env.str("CELERY_BROKER_KEYPREFIX", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Lender calls -----------------------------------------------------------------------------
# Production bounds are validated on the Lender model (15-30 s, at most 3 retries). Tests and the
# demo may shorten the *effective* timeout and backoff here; the stored rules stay the same.
LENDER_TIMEOUT_CAP_SECONDS = env.float("LENDER_TIMEOUT_CAP_SECONDS", default=2.0 if TESTING else 0) or None
LENDER_RETRY_BACKOFF_SECONDS = env.float("LENDER_RETRY_BACKOFF_SECONDS", default=0.05 if TESTING else 2.0)
LENDER_RETRY_BACKOFF_MAX_SECONDS = env.float("LENDER_RETRY_BACKOFF_MAX_SECONDS", default=0.5 if TESTING else 60.0)
# A journey still waiting on a lender after this long without news is re-enqueued by the sweep.
LENDER_SWEEP_STALE_SECONDS = env.int("LENDER_SWEEP_STALE_SECONDS", default=120)
# How often beat runs that sweep. It also takes up at once the work of calls whose worker died:
# a call in flight holds a lease its worker renews every LENDER_CALL_LEASE_RENEW_SECONDS; once
# LENDER_CALL_LEASE_SECONDS pass without renewal the worker is gone (apps/lenders/leases.py).
# A journey whose worker died mid-call resumes within lease + interval + a worker's restart.
LENDER_SWEEP_INTERVAL_SECONDS = env.float("LENDER_SWEEP_INTERVAL_SECONDS", default=10.0)
LENDER_CALL_LEASE_SECONDS = env.float("LENDER_CALL_LEASE_SECONDS", default=15.0)
LENDER_CALL_LEASE_RENEW_SECONDS = env.float("LENDER_CALL_LEASE_RENEW_SECONDS", default=5.0)
if not 0 < LENDER_CALL_LEASE_RENEW_SECONDS * 2 <= LENDER_CALL_LEASE_SECONDS:
    raise ImproperlyConfigured("LENDER_CALL_LEASE_RENEW_SECONDS must be positive and at most half of "
                               "LENDER_CALL_LEASE_SECONDS, or a live call's lease could run out between renewals.")
LENDER_CALL_BODY_LIMIT = 8192
# Polling a pending decision: the lender's own interval, capped here (tests shorten it).
LENDER_POLL_INTERVAL_CAP_SECONDS = env.float("LENDER_POLL_INTERVAL_CAP_SECONDS", default=0.3 if TESTING else 0) or None
# Circuit breaker: trips when at least MIN_CALLS of the last WINDOW_CALLS calls within
# WINDOW_SECONDS were made and FAILURE_RATIO of them failed technically; probes after COOLDOWN.
LENDER_CIRCUIT_MIN_CALLS = env.int("LENDER_CIRCUIT_MIN_CALLS", default=10)
LENDER_CIRCUIT_FAILURE_RATIO = env.float("LENDER_CIRCUIT_FAILURE_RATIO", default=0.5)
LENDER_CIRCUIT_WINDOW_CALLS = env.int("LENDER_CIRCUIT_WINDOW_CALLS", default=20)
LENDER_CIRCUIT_WINDOW_SECONDS = env.int("LENDER_CIRCUIT_WINDOW_SECONDS", default=300)
LENDER_CIRCUIT_COOLDOWN_SECONDS = env.int("LENDER_CIRCUIT_COOLDOWN_SECONDS", default=30)

# The platform's own public address: demo lenders (the sandbox) are reached through it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Sandbox lenders --------------------------------------------------------------------------
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG or TESTING)
# The conformance kit (apps/conformance) and the production activation rule it owns.
LENDER_ACTIVATION_POLICY = "apps.conformance.activation"
CONFORMANCE_LATENCY_TARGET_MS = env.int("CONFORMANCE_LATENCY_TARGET_MS", default=5000)
CONFORMANCE_CERTIFICATE_DAYS = env.int("CONFORMANCE_CERTIFICATE_DAYS", default=90)

# --- Postbacks --------------------------------------------------------------------------------
POSTBACK_MAX_BODY_BYTES = 64 * 1024
POSTBACK_TIMESTAMP_TOLERANCE_SECONDS = 300
POSTBACK_NONCE_RETENTION_SECONDS = 600
# How often the emails and result charges that applied postbacks set off are done (celery beat).
POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = env.float("POSTBACK_FOLLOW_UP_INTERVAL_SECONDS", default=2.0)
# The dashboards' daily rollups (apps/reports): how often the beat task brings them up to date,
# and how long after it occurred a postback counts as late.
REPORTS_ROLLUP_INTERVAL_SECONDS = env.float("REPORTS_ROLLUP_INTERVAL_SECONDS", default=300.0)
REPORTS_LATE_POSTBACK_SECONDS = env.int("REPORTS_LATE_POSTBACK_SECONDS", default=3600)
# A follow-up that keeps failing is tried this many times, each delay twice the one before (from
# the interval, at most 5 minutes: about 8.5 minutes from the first failure to the last at the
# defaults), then given up and shown to staff (postback events admin, "Follow-up: failed"), who
# retry it there.
POSTBACK_FOLLOW_UP_MAX_ATTEMPTS = env.int("POSTBACK_FOLLOW_UP_MAX_ATTEMPTS", default=8)
# Client address for IP allowlists: REMOTE_ADDR unless a trusted proxy count is configured.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Data life cycle (apps/lifecycle; README "Data life cycle") -----------------------------------
# Days each kind of data is kept before the daily purge deletes, blanks or anonymises it; 0 keeps
# it for ever. The ledger, aggregates and billing are never purged.
RETENTION_DAYS = {
    "abandoned_leads": env.int("RETENTION_ABANDONED_LEADS_DAYS", default=180),
    "lender_call_bodies": env.int("RETENTION_LENDER_CALL_BODIES_DAYS", default=90),
    "postback_bodies": env.int("RETENTION_POSTBACK_BODIES_DAYS", default=90),
    "refused_requests": env.int("RETENTION_REFUSED_REQUESTS_DAYS", default=90),
}
# Rows per short transaction of the purge, and the hour (TIME_ZONE) beat runs it each day.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=500)
RETENTION_PURGE_HOUR = env.int("RETENTION_PURGE_HOUR", default=3)

# --- Email (consumer notifications) ------------------------------------------------------------
# SMTP in production, memory under pytest (processes the tests start included; also in a
# development checkout whose .env says DEBUG), the outbox in DEBUG: kept in the database for staff
# to read in admin (apps/leads/outbox.py), never printed into a log as the console backend did
# with every consumer's address. A short timeout: a stalled mail server must not hold a worker.
OUTBOX_EMAIL_BACKEND = "apps.leads.outbox.OutboxEmailBackend"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=(
    "django.core.mail.backends.locmem.EmailBackend" if TESTING
    else OUTBOX_EMAIL_BACKEND if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Prosperas <no-reply@prosperas.example>")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "emails"))  # for the file-based backend

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff sign in to admin with a second factor (TOTP, prosperas/admin_site.py): required outside
# DEBUG; the demo and the test suite leave it optional (tests turn it on where they test it).
STAFF_OTP_REQUIRED = env.bool("STAFF_OTP_REQUIRED", default=not (DEBUG or TESTING))
OTP_TOTP_ISSUER = "Prosperas staff"
globals().update(backoffice_settings(env))  # reveals, bulk retries, alerts
# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username from
# one address, that pair is locked out for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "prosperas.inbound.body.client_ip"  # behind the same trusted proxies as postbacks
# The audit log (django-auditlog, apps/backoffice): who changed what, before and after; the
# changes as JSON; the address of the staff user's request.
AUDITLOG_STORE_JSON_CHANGES = True

LANGUAGE_CODE = "es-co"
# es-co, not es: Colombian number formats ("$3.500.000"); a browser asking for "es" gets it too.
LANGUAGES = [("es-co", "Español"), ("en", "English")]
# Sources are written in Spanish; locale/en holds the English catalog, its .mo committed so that
# neither CI nor a deploy needs gettext installed.
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "prosperas_language"
LANGUAGE_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not (DEBUG or TESTING))
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
# Consumer content staff write per language (listing and product texts; apps/*/translation.py):
# django-modeltranslation adds a column per language (title_es_co, title_en) and reads the active
# language's, falling back to Spanish when the English one is empty.
MODELTRANSLATION_DEFAULT_LANGUAGE = "es-co"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("es-co",)
TIME_ZONE = env.str("TIME_ZONE", default="America/Bogota")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# In development and tests WhiteNoise serves straight from the app and project static folders.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not (DEBUG or TESTING))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 60 * 60 * 24 * 7
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS only in production: plain HTTP is redirected, and browsers are told to use HTTPS from the
# start (HSTS). Behind a proxy that terminates TLS, TRUST_X_FORWARDED_PROTO says its
# X-Forwarded-Proto header is to be believed (otherwise every request would be redirected).
PRODUCTION_DEFAULT = not (DEBUG or TESTING)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION_DEFAULT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION_DEFAULT)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION_DEFAULT)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"  # a journey URL's token never leaves for a lender's site
X_FRAME_OPTIONS = "DENY"

# --- Content security policy (django-csp) -----------------------------------------------------
# Our own files only: no inline scripts or styles anywhere in the flow (JS and CSS are static
# files), no third-party hosts. `data:` images for the empty favicon. Left out of the policy:
# the API docs pages (Swagger UI / Redoc from drf-spectacular-sidecar start themselves with an
# inline script). The sandbox portal and the lenders' postback docs use static CSS files like
# the flow, so they keep the policy, and so does the admin.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/", "/api/redoc/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# --- Waiting pages: honest words, live updates (apps/leads/waiting.py, apps/flow/live.py) --------
FLOW_SLOW_AFTER_SECONDS = env.float("FLOW_SLOW_AFTER_SECONDS", default=8.0)
# Open server-sent event streams one web process serves at once; beyond them pages poll instead.
FLOW_LIVE_STREAMS_PER_PROCESS = env.int("FLOW_LIVE_STREAMS_PER_PROCESS", default=4)
# The one-time link in a result email that reopens the journey in any browser (apps/leads/resume_links.py).
FLOW_RESUME_LINK_HOURS = env.int("FLOW_RESUME_LINK_HOURS", default=72)

# --- Rate limits (django-ratelimit) -------------------------------------------------------------
# Per client address, counted in the shared cache (Redis). Starting journeys and posting the
# flow's forms are limited; a consumer over the limit gets a friendly 429 page. Tests raise the
# limits so that a whole suite run from one address never trips them (the tests of the limit
# itself lower them with override_settings).
FLOW_RATE_LIMITS = {
    "start": env.str("FLOW_RATE_LIMIT_START", default="1000/m" if TESTING else "20/m"),
    "post": env.str("FLOW_RATE_LIMIT_POST", default="1000/m" if TESTING else "60/m"),
}
# The lender-facing endpoints (postbacks, the tester, product data, lender callbacks;
# prosperas/inbound/limits.py): each counts per client address and per key, in fixed windows, and
# answers 429 with Retry-After over a limit. The defaults let a lender send 150 requests a second
# from one address with one key, three times the 50 a second a busy lender sends; tests raise
# them (a run sends everything from 127.0.0.1) and the tests of the limits set them back.
LENDER_RATE_LIMIT_DEFAULTS = {"address": "1500/10s", "key": "1500/10s"}
LENDER_RATE_LIMITS = {
    scope: env.str(f"LENDER_RATE_LIMIT_PER_{scope.upper()}", default="100000/10s" if TESTING else default)
    for scope, default in LENDER_RATE_LIMIT_DEFAULTS.items()
}
# Refused signed requests are counted per lender, key, address, reason and hour (one row each);
# the first few of each row are kept as samples, bodies masked and cut to this many characters.
LENDER_REFUSAL_SAMPLES = env.int("LENDER_REFUSAL_SAMPLES", default=5)
LENDER_REFUSAL_SAMPLE_CHARS = env.int("LENDER_REFUSAL_SAMPLE_CHARS", default=1024)
# Counted refusals are kept RETENTION_DAYS["refused_requests"] (the daily purge, apps/lifecycle).
RATELIMIT_USE_CACHE = "default"
# A count the cache could not give back does not block a consumer (apps/flow/journeys.py also
# lets requests through, logged, when the cache cannot be reached at all).
RATELIMIT_FAIL_OPEN = True
# W001 only says django-ratelimit's list of backends predates Django's own RedisCache (ours is it,
# with its clients reused: prosperas/cache.py), whose add() and incr() are Redis SET NX and
# INCRBY: atomic and shared, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Prosperas platform API",
    "DESCRIPTION": (
        "The contracts Prosperas publishes. Lenders report what happened to each application "
        "through signed postbacks; see /docs/postbacks/ for signing examples. Origins that render their "
        "own screens submit leads and follow them with OAuth2 client credentials; see /docs/origins/."
    ),
    "VERSION": "1.0.0",
    # OpenAPI 3.1: its schemas are JSON Schema (2020-12), which can state what the endpoints
    # refuse (propertyNames, dependentRequired) so that clients and schemathesis read it too.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # After the default hook: the recursive components of JSON a lender may send (postback
    # metadata), and "" allowed beside a pattern stated so that "" validates.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "prosperas.inbound.schema.storable_json_components",
                             "prosperas.inbound.schema.blank_alternatives_any_of"],
    # One name per choice set shared by several endpoints (the product data API and the origins' API).
    "ENUM_NAME_OVERRIDES": {
        "DocumentTypeEnum": "apps.leads.consumer_data.DOCUMENT_TYPE_CODES",
        "RegionEnum": "apps.leads.consumer_data.REGION_CODES",
        "OriginLeadStatusEnum": "apps.origin_api.statuses.API_STATUSES",
    },
}

# --- The origins' server-to-server API (apps/origin_api; prosperas/origin_api_settings.py) ----
globals().update(origin_api_settings(env, testing=TESTING))

# --- Operations: health, metrics, logs ----------------------------------------------------------
# /metrics answers a bearer token (METRICS_TOKEN) or an address in METRICS_ALLOWED_NETWORKS (the
# loopback in DEBUG); with neither, nobody.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(network.strip(), strict=False)
    for network in env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else [])
]
# Every process of a node writes its metrics into this folder and /metrics adds them up
# (prosperas/metrics.py); prometheus-client reads it from the environment when first imported,
# which is after the settings. The demo keeps it under var/, each test run in a folder of its own
# (the processes the tests start inherit it); production sets it (README).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="") or (
    tempfile.mkdtemp(prefix="prosperas-metrics-") if TESTING else str(VAR_DIR / "metrics") if DEBUG else "")
if PROMETHEUS_MULTIPROC_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
    os.makedirs(PROMETHEUS_MULTIPROC_DIR, exist_ok=True)
# Health probes and scrapes come over plain HTTP from inside the network: never redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]

# Logs: one JSON object a line in production, readable lines in the demo and tests
# (LOG_FORMAT=json|plain); every line carries the request id and the journey it concerns, from
# the web request into the worker's lines (prosperas/logcontext.py).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG or TESTING else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
LOGGING = logging_config(level=LOG_LEVEL, line_format=LOG_FORMAT)

# Error and trace export, each off unless its variable is set (prosperas/telemetry.py; README).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="prosperas")
# Lender onboarding: egress addresses, credential overlap, one-time links, portal invitations.
globals().update(partner_settings(env))
