"""Prosperas settings: one module, configured only through environment variables.

Every variable read here is listed in README.md with its default. PostgreSQL and Redis are
required everywhere (DATABASE_URL, REDIS_URL): `make run` and `make test` start private ones from
pip packages when they are unset (prosperas/embedded.py); secrets have no default outside DEBUG.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

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
    "django.contrib.admin",
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
    "apps.sandbox",
    "csp",
    "django_ratelimit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the consumer's language from the switch's cookie, else the
    # browser's Accept-Language, else LANGUAGE_CODE (Spanish, Colombia).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _required_url("REDIS_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

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

# --- Postbacks --------------------------------------------------------------------------------
POSTBACK_MAX_BODY_BYTES = 64 * 1024
POSTBACK_TIMESTAMP_TOLERANCE_SECONDS = 300
POSTBACK_NONCE_RETENTION_SECONDS = 600
# How often the emails and result charges that applied postbacks set off are done (celery beat).
POSTBACK_FOLLOW_UP_INTERVAL_SECONDS = env.float("POSTBACK_FOLLOW_UP_INTERVAL_SECONDS", default=2.0)
# Client address for IP allowlists: REMOTE_ADDR unless a trusted proxy count is configured.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Email (consumer notifications) ------------------------------------------------------------
# SMTP in production, memory under pytest (processes the tests start included; also in a
# development checkout whose .env says DEBUG), the console in DEBUG. A short timeout: a stalled
# mail server must not hold a worker.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=(
    "django.core.mail.backends.locmem.EmailBackend" if TESTING
    else "django.core.mail.backends.console.EmailBackend" if DEBUG
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

# --- Rate limits (django-ratelimit) -------------------------------------------------------------
# Per client address, counted in the shared cache (Redis). Starting journeys and posting the
# flow's forms are limited; a consumer over the limit gets a friendly 429 page. Tests raise the
# limits so that a whole suite run from one address never trips them (the tests of the limit
# itself lower them with override_settings).
FLOW_RATE_LIMITS = {
    "start": env.str("FLOW_RATE_LIMIT_START", default="1000/m" if TESTING else "20/m"),
    "post": env.str("FLOW_RATE_LIMIT_POST", default="1000/m" if TESTING else "60/m"),
}
RATELIMIT_USE_CACHE = "default"
# A count the cache could not give back does not block a consumer (apps/flow/journeys.py also
# lets requests through, logged, when the cache cannot be reached at all).
RATELIMIT_FAIL_OPEN = True
# W001 only says django-ratelimit's list of backends predates Django's own RedisCache, whose
# add() and incr() are Redis SET NX and INCRBY: atomic and shared, which is all it needs.
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
        "through signed postbacks; see /docs/postbacks/ for signing examples."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"quiet_follow_ups": {"()": "prosperas.logging_filters.QuietFollowUps"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["quiet_follow_ups"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
