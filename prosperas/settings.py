"""Prosperas settings: one module, configured only through environment variables.

Every variable read here is listed in README.md with its default. Defaults are chosen so that
`make run` works on a laptop with nothing installed (SQLite, a file-system Celery broker);
secrets have no default outside DEBUG.
"""

import os
from pathlib import Path

import environ

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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.origins",
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

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker's threads write at once: WAL lets readers go on during a
    # write, IMMEDIATE takes the write lock up front instead of failing halfway through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a Celery worker process started by the tests sees it.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_DB", default=str(VAR_DIR / "test-db.sqlite3"))}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # psycopg binds parameters on the server and prepares a statement once it has run
    # prepare_threshold times on a connection: the hot statements written in SQL (prosperas/sql.py)
    # and the ORM's frequent ones are parsed and planned once per connection. Turn off behind a
    # pooler in transaction mode without prepared statement support.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------
# Without REDIS_URL (or CELERY_BROKER_URL) the broker is kombu's file-system transport: no
# server to install, good for the demo. It loses in-flight messages on kill -9, which is one
# reason the database, not the broker, says which lender work is due (see the sweep task).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
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
# Database connections a worker process's lender-call threads share while they wait on lenders
# (apps/lenders/db.py): 100 threads waiting on HTTP need not hold 100 PostgreSQL connections.
LENDER_DB_CONNECTIONS = env.int("LENDER_DB_CONNECTIONS", default=16)
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
if REDIS_URL:
    # W001 only says django-ratelimit's list of backends predates Django's own RedisCache, whose
    # add() and incr() are Redis SET NX and INCRBY: atomic and shared, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
elif DEBUG or TESTING:
    # Without Redis (the demo, the SQLite test run) the limits count per process in LocMemCache:
    # good enough there, wrong in production, where the checks stay on and demand a shared cache.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

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
