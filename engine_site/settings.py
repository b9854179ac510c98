"""Settings, read from the environment, with an embedded default.

This is the only module that reads the environment. No ``DATABASE_URL`` means a
SQLite file under ``var/`` (WAL, ``IMMEDIATE`` transactions so that claims
serialise). ``DATABASE_URL=mysql://…`` means MySQL/MariaDB at READ COMMITTED.
``REDIS_URL`` is optional everywhere. Tunables live in each app's conf
(``jobs/conf.py``, ``tenants/conf.py``): ``JOBS_<KEY>`` variables and the ``JOBS``
dict here override them.
"""

import os
import socket
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from redis.backoff import NoBackoff
from redis.retry import Retry

from .secretkey import EMBEDDED_SECRET_KEY, secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DEBUG", False)
#: PRODUCTION=1: refuse to start without a real SECRET_KEY, secure cookies, HSTS, TLS redirect.
PRODUCTION = _env_bool("PRODUCTION", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if PRODUCTION or _env_bool("REQUIRE_SECRET_KEY", False):
    if problem := secret_key_problem(SECRET_KEY):
        raise ImproperlyConfigured(problem)
elif not SECRET_KEY:
    # Only the embedded default runs without one.
    SECRET_KEY = EMBEDDED_SECRET_KEY
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
INSTANCE_ID = os.environ.get("INSTANCE_ID", "")
#: How logs and the worker registry name this instance.
INSTANCE_NAME = INSTANCE_ID or socket.gethostname()
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

if PRODUCTION:
    # nginx (or another proxy) terminates TLS and says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    # The health checks answer load balancers over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^api/health"]
    SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = _env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    # Opt-in: both bind hosts beyond this one (every subdomain; browsers' built-in preload lists,
    # which take months to leave), so only the domain's owner can decide them.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
    # check --deploy's advice to turn them on is that decision, taken above.
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

# Scripts and styles only from our own files (the console has no inline script, style or handler;
# htmx's indicator styles are off, base.html): injected markup cannot run. The nonce appears only
# where a page asks for it (the admin's and the API docs' own inline blocks).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

#: This process runs ``manage.py runworkers``: it serves no HTTP (``jobs.apps.worker_process``).
WORKER_PROCESS = sys.argv[1:2] == ["runworkers"]

INSTALLED_APPS = [
    # daphne first (its runserver serves the ASGI app); not in a worker: its import costs ≈ 0.5 s.
    *([] if WORKER_PROCESS else ["daphne"]),
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Login throttling on /login/ and /admin/login/ (its own tables: run migrate).
    "axes",
    "tenants",
    "jobs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Near the top: compresses what every later middleware wrote; JSON only, never a secret (BREACH).
    "engine_site.compression.JsonGZipMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # SECURE_CSP below, on every response
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the console's CSS/JS, htmx, the API docs' assets
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "engine_site.actors.ActorMiddleware",  # who is acting, for the audit log: needs the session's user
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.api.budget.RateLimitHeaders",  # the window's headers on authenticated API answers not charged
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins lock out one username from one address (never a username from everywhere, which would let
# anyone lock an administrator out), until the cool-off after the last failure or a successful login.
AXES_ENABLED = _env_bool("LOGIN_THROTTLE", True)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
#: In hours, as a float (an int would be read as whole hours).
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")) / 60
AXES_RESET_ON_SUCCESS = True
# Its start-up banner would print on every manage.py command.
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "dashboard/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "engine_site.clientip.client_ip"
#: Proxies in front of the web process that append to X-Forwarded-For (nginx under PRODUCTION=1); without
#: them every client would share the proxy's address.
LOGIN_PROXY_COUNT = int(os.environ.get("LOGIN_PROXY_COUNT", "1" if PRODUCTION else "0"))

LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"

ROOT_URLCONF = "engine_site.urls"
WSGI_APPLICATION = "engine_site.wsgi.application"
ASGI_APPLICATION = "engine_site.asgi.application"

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
                # csp_nonce: the admin's and the API docs' inline blocks carry it.
                "django.template.context_processors.csp",
            ],
        },
    },
]


def _database_from_env() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "engine.sqlite3")),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent claims
                # serialise instead of failing at their first write.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;",
            },
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", str(VAR_DIR / "test.sqlite3"))},
        }
    db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
                                                          conn_health_checks=True))
    if db["ENGINE"] == "django.db.backends.mysql":
        options = db.setdefault("OPTIONS", {})
        options.setdefault("charset", "utf8mb4")
        # READ COMMITTED: claims lock only the rows they return (no gap locks).
        options.setdefault("isolation_level", "read committed")
        db.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
    return db


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip() or None


def caches_for(redis_url: str | None) -> dict[str, Any]:
    """CACHES for ``redis_url``: django-redis, whose pool is the process's one Redis client; else local memory."""
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": redis_url,
        "OPTIONS": {
            # Short timeouts: a request or an enqueue must not hang on Redis (jobs/notify/redis.py).
            "SOCKET_TIMEOUT": 2,
            "SOCKET_CONNECT_TIMEOUT": 2,
            # No retries (a retried rate-limit script would charge twice); pings keep pub/sub honest.
            "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 0), "health_check_interval": 10},
        },
    }}


CACHES = caches_for(REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders too, so the embedded default needs no collectstatic.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"},
        "json": {"()": "engine_site.logformat.JsonFormatter"},
    },
    # LOG_FORMAT=json: one JSON object per line with the instance id (production default).
    "handlers": {"console": {"class": "logging.StreamHandler",
                             "formatter": os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Tunables; see jobs/conf.py and tenants/conf.py for every key, its default and its meaning.
JOBS: dict[str, Any] = {}
#: JOBS_<KEY> environment variables, as strings (JOBS wins over them). Each app's conf types the
#: keys it owns and ignores the rest (e.g. the test suite's JOBS_TEST_DB).
JOBS_ENV = {name.removeprefix("JOBS_"): value for name, value in os.environ.items() if name.startswith("JOBS_")}

#: With a token, /metrics wants ``Authorization: Bearer <token>``.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# runengine: where its web server listens, and the console login its --demo creates.
WEB_HOST = os.environ.get("HOST", "127.0.0.1")
WEB_PORT = os.environ.get("PORT", "8000")  # a string: --port parses it
CONSOLE_ADMIN_USER = os.environ.get("CONSOLE_ADMIN_USER", "admin")
#: Empty: --demo generates a password and shows it once.
CONSOLE_ADMIN_PASSWORD = os.environ.get("CONSOLE_ADMIN_PASSWORD", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["jobs.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jobs.api.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Job engine API",
    "DESCRIPTION": ("Submit, inspect and control background tasks. Every endpoint but the health checks needs an "
                    "API key (`X-API-Key: <key>` or `Authorization: Bearer <key>`); every query is scoped to the "
                    "key's tenant. Errors are RFC 9457 problem details (`application/problem+json`)."),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "jobs.api.openapi.document"],
    "REDOC_DIST": "SIDECAR", "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"TaskStatusEnum": "jobs.lifecycle.Status"},
}
