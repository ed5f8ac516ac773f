"""Callout settings: one module, every deployment difference comes from the environment.

DATABASE_URL   default sqlite:///db.sqlite3 (the embedded default); postgres://... for PostgreSQL
DATABASE_PREPARE  "0" turns off the serve's prepared statement (PostgreSQL behind an old PgBouncer)
REDIS_URL      when set, the targeting cache lives in Redis (shared by every process)
SECRET_KEY     required in production
DEBUG          "1" for development
ALLOWED_HOSTS  comma separated
HTTPS          "1" behind a TLS proxy: secure cookies, HSTS, redirect to https
HSTS_INCLUDE_SUBDOMAINS, HSTS_PRELOAD  "1" adds includeSubDomains / preload to HSTS (HTTPS=1)
DB_CONNECT_TIMEOUT  seconds to open a database connection (default 3)
DB_STATEMENT_TIMEOUT  milliseconds a statement may run, PostgreSQL (default 15000; 0 = none)
DATABASE_REPLICA_URL  a streaming standby for Engage's reads (callout/replica.py)
IDENTIFY_DURABLE  "1": identify's merge waits for the WAL flush like every other write (default
               "0": it commits asynchronously; see docs/deploy.md)
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

# pytest sets PYTEST_VERSION for the whole test process.
TESTING = "PYTEST_VERSION" in os.environ
DEBUG = os.environ.get("DEBUG", "0") == "1"

WHITENOISE_USE_FINDERS = DEBUG or TESTING

# Without SECRET_KEY a development key is used; `manage.py check --deploy` flags it.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-callout-development-only-key"

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# HTTPS=1 behind a TLS-terminating proxy that sets X-Forwarded-Proto: secure cookies, HSTS and a
# redirect to https (not for /healthz, which load balancers probe over plain HTTP).
if os.environ.get("HTTPS") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", "31536000"))
    # Off unless asked: includeSubDomains forces HTTPS on every subdomain of the host, and
    # preload is a promise to browsers that is slow to take back (hstspreload.org).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("HSTS_INCLUDE_SUBDOMAINS") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("HSTS_PRELOAD") == "1"

# Content-Security-Policy on every page (Engage, admin; not the snippet's JSON API): only
# this origin's scripts and styles, plus inline ones carrying the request's nonce; no
# 'unsafe-inline', no 'unsafe-eval' (htmx's hx-on and its eval are off: base.html's
# htmx-config), no wildcards. Pages may not be framed (clickjacking) and forms post only here.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

INSTALLED_APPS = [
    "callout.admin.OperatorAdminConfig",  # superusers only (callout/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "segments",
    "experiences",
    "management_api",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "callout.actor.ActorMiddleware",  # who writes: versions and the audit log record it
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "callout.middleware.ContentSecurityPolicyMiddleware",  # Django's, minus the JSON API
    "django_htmx.middleware.HtmxMiddleware",
    "callout.middleware.VaryOnHtmxMiddleware",  # a page and its htmx regions share URLs
    "callout.replica.ReplicaMiddleware",  # a no-op without DATABASE_REPLICA_URL
    "callout.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lockout found during the login into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "callout.urls"
WSGI_APPLICATION = "callout.wsgi.application"

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
                "segments.context_processors.navigation",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}

# Timeouts, so that a database that does not answer costs a request seconds, not a worker:
# DB_CONNECT_TIMEOUT (seconds) bounds opening a connection (a frozen or unreachable server);
# DB_STATEMENT_TIMEOUT (milliseconds, 0 = none) makes PostgreSQL cancel a statement that runs
# longer (a lock queue, a runaway query), which the API answers as its JSON 503 and Engage as
# its "try again" page. They ride on the connection's start-up packet: no query per request.
# Management commands (migrate, import_users, sync_trait_indexes) run long on purpose: they get
# no statement timeout unless DB_STATEMENT_TIMEOUT is set for them explicitly.
DB_CONNECT_TIMEOUT = int(os.environ.get("DB_CONNECT_TIMEOUT", "3"))
_MANAGEMENT = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] != ["runserver"]
DB_STATEMENT_TIMEOUT = int(
    os.environ.get("DB_STATEMENT_TIMEOUT", "0" if _MANAGEMENT and not TESTING else "15000")
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    if DB_STATEMENT_TIMEOUT > 0:
        _options.setdefault("options", f"-c statement_timeout={DB_STATEMENT_TIMEOUT}")

# An API request's database waits end after this many seconds even when the server cannot
# enforce its statement timeout (frozen): callout/dbwatch.py. Above any serve's legitimate
# time (one statement of about a millisecond), below gunicorn's --timeout. 0 turns it off.
API_DB_DEADLINE = float(os.environ.get("API_DB_DEADLINE", "5"))

# /healthz answers within this many seconds whatever the database or the cache do.
HEALTHZ_TIMEOUT = float(os.environ.get("HEALTHZ_TIMEOUT", "1.5"))

# A read replica (callout/replica.py): DATABASE_REPLICA_URL names a streaming standby of the
# primary; Engage's reads go there while it lags at most REPLICA_MAX_LAG seconds.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
    DATABASES["replica"]["OPTIONS"] = {
        key: value
        for key, value in DATABASES["default"].get("OPTIONS", {}).items()
        if key in ("connect_timeout", "options")
    }
    # Under tests the replica is the test database itself (no second copy is created).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["callout.replica.ReplicaRouter"]
REPLICA_MAX_LAG = float(os.environ.get("REPLICA_MAX_LAG", "5"))
REPLICA_CHECK_SECONDS = float(os.environ.get("REPLICA_CHECK_SECONDS", "1"))
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "10"))

# Lets the serve's one lookup (experiences.lookup) run as a prepared statement: planning it
# costs more than running it. Django's own cursors bind on the client and never prepare.
# DATABASE_PREPARE=0 turns it off, for PgBouncer < 1.21 in transaction mode.
if (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and os.environ.get("DATABASE_PREPARE", "1") == "1"
):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)

# identify's one-statement merge (experiences/lookup.py) commits with synchronous_commit off:
# PostgreSQL answers before its WAL reaches the disk. A crash of the database server can lose
# the last moments of identify merges, whole (never half a write), which the snippet sends
# again on the user's next page; every other write stays durable.
CALLOUT_IDENTIFY_DURABLE = os.environ.get("IDENTIFY_DURABLE", "0") == "1"
# The same for /api/v1/track's two-statement path (experiences/track.py): a crash of the
# database server can lose the last moments of tracked events, each call whole or not at all
# (its events and the summary they count into commit together). A durable commit waits for the
# disk: on the benchmark's machine it made a track call nine times slower.
CALLOUT_TRACK_DURABLE = os.environ.get("TRACK_DURABLE", "0") == "1"
# The same for a serve's first exposure of a user to a measured experience (goals and holdouts,
# experiences/actions.py exposures_record): a crash of the database server can lose the last
# moments of exposures, row and note together, which the user's next serve writes again.
CALLOUT_EXPOSURES_DURABLE = os.environ.get("EXPOSURES_DURABLE", "0") == "1"

# Trait definitions per application (identify and import discover new keys; a call or row that
# would pass the limit is refused, naming the trait). 500 keeps the Traits page, which reads
# every definition's statistics, well within what one request should do.
CALLOUT_MAX_TRAIT_DEFINITIONS = int(os.environ.get("MAX_TRAIT_DEFINITIONS", "500"))

# Raw events (TrackedEvent) are kept this many days; `manage.py prune_events` deletes older ones
# (the activity summaries the rules read keep their counts, first and last times); run it
# daily. import_events refuses older events, which the next prune would delete at once.
CALLOUT_EVENT_RETENTION_DAYS = int(os.environ.get("EVENT_RETENTION_DAYS", "400"))

# Event names per application (EventDefinition: /api/v1/track and import_events discover new
# names, a manager adds them on the Events page; past the limit a new name is refused, naming
# it). 500 keeps the Events page's statistics and charts within one request's work.
CALLOUT_MAX_EVENT_NAMES = int(os.environ.get("MAX_EVENT_NAMES", "500"))

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "callout",
            # A hung Redis costs a request a second, not a worker (/healthz relies on it).
            "OPTIONS": {
                "socket_connect_timeout": float(os.environ.get("REDIS_TIMEOUT", "1")),
                "socket_timeout": float(os.environ.get("REDIS_TIMEOUT", "1")),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling: django-axes, chosen over a limiter on the cache because it counts in the
# database (a Redis flush, which docs/deploy.md allows at any time, would lift every lockout),
# sits in the authentication backend (the Engage login and the admin's alike), lists attempts
# in the admin and ships reset commands (manage.py axes_reset, axes_reset_username,
# axes_reset_ip). A username, or an IP address, with LOGIN_FAILURE_LIMIT failures in a row is
# locked out for LOGIN_LOCKOUT_MINUTES; a success resets its count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "callout.clientip.client_ip"
AXES_VERBOSE = not TESTING
# The snippet API's rate limits (callout/ratelimit.py): requests per API_RATE_WINDOW seconds per
# public key and per client IP address; 0 turns one off. Far above what one customer's users or
# one office behind a NAT send; they stop floods, not use. Under pytest they count but are out
# of reach (the suite sends thousands of requests from 127.0.0.1); tests of the limits set
# their own.
_RATE_DEFAULTS = ("1000000", "1000000") if TESTING else ("20000", "2000")
API_RATE_LIMIT_KEY = int(os.environ.get("API_RATE_LIMIT_KEY", _RATE_DEFAULTS[0]))
API_RATE_LIMIT_IP = int(os.environ.get("API_RATE_LIMIT_IP", _RATE_DEFAULTS[1]))
API_RATE_WINDOW = int(os.environ.get("API_RATE_WINDOW", "10"))

# Proxies in front of gunicorn that append to X-Forwarded-For (callout/clientip.py).
PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # The manifest storage needs collectstatic first, which tests and runserver do not run.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
