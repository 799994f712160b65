"""QueryLab settings: one file, driven by the environment.

Development is the default. ``DJANGO_ENV=production`` turns on the production
settings; ``DATABASE_URL`` selects PostgreSQL (otherwise SQLite under ``var/``).
https://docs.djangoproject.com/en/6.1/topics/settings/
"""

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the app writes at run time lives here; git ignores it.
VAR_DIR = Path(os.environ.get("QUERYLAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
# The sandbox's prepared datasets (sandbox/datasets.py): deterministic, so shared by every
# server and test session on this checkout.
DATASETS_DIR = Path(os.environ.get("QUERYLAB_DATASETS_DIR", VAR_DIR / "datasets"))

PRODUCTION = os.environ.get("DJANGO_ENV", "development") == "production"
TESTING = "pytest" in sys.modules
DEBUG = not PRODUCTION and os.environ.get("DJANGO_DEBUG", "1") == "1"


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the environment when DJANGO_ENV=production.")
    return value


def _development_secret_key() -> str:
    # Never committed: generated once into a git-ignored file.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
    ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
else:
    SECRET_KEY = os.environ.get("SECRET_KEY") or _development_secret_key()
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_ace",  # only for its static build of the Ace editor
    "django_tasks_db",
    "core",
    "blog",
    "sandbox",
    "exercises",
    "lessons",
    "instructor.apps.InstructorConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.DatabaseOutageMiddleware",
    "core.errors.ErrorAnswersMiddleware",
]

# The toolbar is a development aid; tests and production never load it.
DEBUG_TOOLBAR = DEBUG and not TESTING
if DEBUG_TOOLBAR:
    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    INTERNAL_IPS = ["127.0.0.1"]
    DEBUG_TOOLBAR_CONFIG = {
        # Refresh the toolbar after htmx swaps, so the SQL panel shows the panel's run.
        # https://django-debug-toolbar.readthedocs.io/en/latest/configuration.html#update-on-fetch
        "UPDATE_ON_FETCH": True,
        "ROOT_TAG_EXTRA_ATTRS": "hx-preserve",
        # Folded to its handle until opened: open, it covers the lesson's query panels.
        "SHOW_COLLAPSED": True,
    }

# Outermost: it times every other middleware too, and keeps the toolbar's Server-Timing entries.
MIDDLEWARE.insert(0, "core.timing.ServerTimingMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "core.timing.TimedDjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "core.context_processors.isolation_level",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'querylab.sqlite3'}",
        conn_max_age=0 if TESTING else 60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets lessons read while an instructor reseeds; IMMEDIATE avoids
    # "database is locked" upgrades from read to write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file too: threads (live server, task worker) then share it with
    # real locking instead of shared-cache memory's "database table is locked". One per
    # test process, so that two test runs on one checkout never share (or delete) it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_querylab.{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where learners' code runs: "sqlite" (a prepared file per dataset, of which the worker
# stages a private copy; the default) or "postgresql" (schemas of the app's own
# PostgreSQL, reached through its Unix socket; see sandbox/pg.py).
SANDBOX_DATABASE = os.environ.get("QUERYLAB_SANDBOX_DATABASE", "sqlite")

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"  # for everyone: learners, instructors and the admin
LOGIN_REDIRECT_URL = "/"
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"  # JSON for the API, the site's page for people
LOGOUT_REDIRECT_URL = "/"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 180  # a learner's progress outlives a term

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Development and tests serve straight from the finders; production from collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Content Security Policy, Django's own: no inline script anywhere.
# https://docs.djangoproject.com/en/6.1/ref/csp/
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
if DEBUG_TOOLBAR:
    # The toolbar injects its own inline styles; development only.
    SECURE_CSP = {}

# Request size: code is at most 20 KB; anything far larger is refused before a view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# A Server-Timing header on every answer (core/timing.py): sandbox, database, templates, CPU.
QUERYLAB_SERVER_TIMING = os.environ.get("QUERYLAB_SERVER_TIMING", "1" if DEBUG else "0") == "1"
# Each start of `make run` or `make serve` queues a warm-up (exercises/warm.py): every dataset
# learners can reach built, every lesson's Scale it measured; 0 skips it.
QUERYLAB_WARM_UP = os.environ.get("QUERYLAB_WARM_UP", "1") == "1"
# After an instructor's reset, the same warm-up on the new seed, so that no learner waits for
# it. Tests measure what they need.
QUERYLAB_MEASURE_AFTER_RESET = os.environ.get("QUERYLAB_MEASURE_AFTER_RESET", "0" if TESTING else "1") == "1"

# Per-client (session, else address) limits: (requests, seconds). See core/throttle.py.
# They are counted in the cache, so the cache must be one that every server process and
# node shares: the database's (its table comes with core's migrations). Tests count in
# memory; tests/test_scaleout.py checks the shared count across two real nodes.
# Two caches in the database, one table each, shared by every process and node: the shared
# lesson runs and their rendered panels ("default": a week each, rarely written), and the
# rate-limit counters ("counters": one per learner and minute, written on every run, each
# increment one atomic statement: core/cache.py). Apart, a class's counters never cull the
# runs (Django culls the first keys in order once over MAX_ENTRIES).
DATABASE_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "querylab_cache",
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    },
    "counters": {
        "BACKEND": "core.cache.CounterCache",
        "LOCATION": "querylab_counters",
        "OPTIONS": {"MAX_ENTRIES": 3_000},
    },
}
CACHES = (
    {
        alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": alias}
        for alias in DATABASE_CACHES
    }
    if TESTING
    else DATABASE_CACHES
)
QUERYLAB_RATE_LIMITS = {
    "runs": (int(os.environ.get("QUERYLAB_RUNS_PER_MINUTE", 120)), 60),
    "login": (int(os.environ.get("QUERYLAB_LOGINS_PER_5_MINUTES", 10)), 300),
    # Sessions one address may start (core.throttle.gives_session): a class arriving at once.
    "sessions": (int(os.environ.get("QUERYLAB_SESSIONS_PER_MINUTE", 600)), 60),
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
    # Behind a load balancer that terminates TLS and sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [
        o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
    ]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"querylab": {"level": "INFO"}},
}
