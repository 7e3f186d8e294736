"""Django settings. Every value that varies comes from config.environment."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import dj_database_url

from config.environment import PROJECT_ROOT, Environment

ENV = Environment.for_site()
"""The environment as read once at start-up; views and checks use it too."""

BASE_DIR = PROJECT_ROOT
SECRET_KEY = ENV.secret_key
DEBUG = ENV.debug
ALLOWED_HOSTS = list(ENV.allowed_hosts)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "channels",
    "graphene_django",
    "axes",
    "taskqueue.contrib.django",
    "jobs",
    "providers",
    "progress",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "jobs.api.metrics.GraphQLMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the built UI and admin assets from the same process (no separate
    # file server), with far-future caching for content-hashed files.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jobs.auth.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a lockout into the 429 that says
    # when to retry (config.throttling.lockout_response).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+address before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
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


def _database(url: str) -> dict[str, Any]:
    database: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    )
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # The API and the workers write the same file: WAL lets readers go on
        # while one writer commits, IMMEDIATE takes the write lock up front
        # (no deadlocked upgrades) and the timeout waits instead of failing
        # with "database is locked".
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    return database


DATABASES = {"default": _database(ENV.database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests start workers and servers in subprocesses that must open the test
    # database, so it is a file (not SQLite's private in-memory database),
    # one per test process so parallel runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(ENV.stack_home / f"test-django-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = ENV.stack_home / "static"
UI_BUILD_DIR = BASE_DIR / "frontend" / "dist"
"""Vite's output (`base: '/static/app/'`), served under STATIC_URL + 'app/'."""
STATICFILES_DIRS = [("app", UI_BUILD_DIR)]
# Serve straight from the finders (frontend/dist, app static folders) so a
# fresh build shows without collectstatic; production images run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [ENV.redis_url]},
    },
    # "Credentials ended, close the socket" (progress.credentials): Redis
    # pub/sub, one subscription per group and process; its per-event-loop
    # connections also suit test code that runs a loop per test.
    "credentials": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [ENV.redis_url]},
    },
}

# The services the project talks to, as read from the environment.
KAFKA_BOOTSTRAP_SERVERS = ENV.kafka_bootstrap_servers
REDIS_URL = ENV.redis_url
MONGO_URL = ENV.mongo_url
RABBITMQ_URL = ENV.rabbitmq_url

# The project's taskqueue app (config/taskqueue.py) reads TASKQUEUE_* settings.
TASKQUEUE_APP = "config.taskqueue:app"
TASKQUEUE_BROKER_URL = f"kafka://{ENV.kafka_bootstrap_servers}"
TASKQUEUE_REDIS_URL = ENV.redis_url
TASKQUEUE_MONGO_URL = ENV.mongo_url

# The provider APIs (base URLs, timeouts, GitHub token, sandbox switch): a
# frozen providers.settings.ProviderSettings, read by providers.conf.
PROVIDERS = ENV.providers

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # pika narrates every connection step at INFO.
    # httpx logs every request at INFO; the providers log their own at DEBUG.
    "loggers": {"pika": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# The jobs app (jobs/): GraphQL schema, login, stuck-job threshold.
GRAPHENE = {"SCHEMA": "config.schema.schema", "ATOMIC_MUTATIONS": False}
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# Login throttling (django-axes): every path that checks a password goes
# through authenticate(), so /accounts/login/, /admin/login/ and the GraphQL
# login mutation share one count. Keyed by username *and* address, so a
# stranger cannot lock a person out from elsewhere.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "config.throttling.lockout_response"

# Production defaults, on whenever DEBUG is off (docs/security.md).
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = ENV.ssl_redirect
# Probes and Prometheus speak plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = ENV.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.hsts_seconds > 0
SECURE_PROXY_SSL_HEADER = ENV.secure_proxy_ssl_header
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a one-way commitment to the browsers' list: the
    # deployer opts in, it is no default.
    "security.W021",
]
OPERATORS_ALLOWED_IPS = ENV.operators_allowed_ips
"""Addresses/networks that read /status, /metrics and /healthz details without
logging in as staff (config.operators)."""
HEALTHZ_CACHE_SECONDS = 5.0
"""/healthz answers from a cache this fresh, so probes cannot hammer the services."""
GRAPHQL_INTROSPECTION = ENV.graphql_introspection
"""Answer __schema/__type queries (on with DEBUG; GRAPHQL_INTROSPECTION=true to force)."""

JOBS_STUCK_AFTER = 60.0
"""Seconds after which a PENDING job Kafka never acknowledged counts as stuck."""

# Live progress and the workers' control plane (progress/, taskqueue.control).
TASKQUEUE_RABBITMQ_URL = ENV.rabbitmq_url
GRAPHQL_WS_INIT_TIMEOUT = 3.0
"""Seconds a websocket client has to send connection_init (then 4408)."""
PROGRESS_RPC_TIMEOUT = 0.3
"""Seconds to wait for the worker's progress reply before answering from Redis."""
CONTROL_TIMEOUT = 0.5
"""Deadline of each gRPC call to a worker (workers query, cancel, admin)."""

# Quotas and shared answers of the jobs API (docs/security.md).
JOBS_SUBMISSIONS_PER_MINUTE = 120
"""Jobs one person may submit per calendar minute, counted in Redis across
every web process (a bulk of n counts n; 0: no limit). jobs.api.quotas."""
JOBS_MAX_UNFINISHED = 1_000
"""Jobs of one person not yet final at once (0: no limit). jobs.api.quotas."""
WORKERS_CACHE_SECONDS = 2.0
"""One `workers` answer (heartbeats, gRPC status, lag) serves every caller of a
web process this long, so polling screens do not multiply calls to workers."""
