"""Django settings. Application parameters come from config.yaml (CONFIG)."""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mlframework.config import ConfigError, load_config

BASE_DIR = Path(__file__).resolve().parent.parent

CONFIG_FILE = Path(os.environ.get("MLFRAMEWORK_CONFIG", BASE_DIR / "config.yaml"))
try:
    CONFIG = load_config(CONFIG_FILE)
except ConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# The Slurm clients the platform runs (sbatch, squeue, sacct) find the cluster
# here also when cron, which passes no environment, started the process.
if CONFIG.executors.slurm.conf:
    os.environ["SLURM_CONF"] = str(CONFIG.path(CONFIG.executors.slurm.conf))

VAR_DIR = CONFIG.path(CONFIG.paths.var)
# The SQLite databases, the secret key and the metrics live here by default.
VAR_DIR.mkdir(parents=True, exist_ok=True)

# /metrics adds up what every gunicorn worker counted: prometheus-client's
# multiprocess mode, one file per process in this folder, set before anything
# imports prometheus_client (README, Metrics); gunicorn's master empties it.
METRICS_DIR = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics"))
)
METRICS_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if CONFIG.web.secret_key:
        return CONFIG.web.secret_key
    # Generated once and kept beside the data it protects.
    key_file = VAR_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = CONFIG.web.debug
ALLOWED_HOSTS = CONFIG.web.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.web.csrf_trusted_origins

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "mlframework.core",
    "mlframework.events",
    "mlframework.processes",
    "mlframework.usage",
    "registry",
    "showroom",
    "dispatch",
    "monitor",
]

MIDDLEWARE = [
    # First: times the whole answer of every request for /metrics.
    "mlframework.metrics.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: picks the language of each request.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in user's chosen language wins.
    "mlframework.core.language.UserLanguageMiddleware",
    # Records each /api/ request for the API usage page, after the answer.
    "mlframework.usage.middleware.ApiUsageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a lockout flagged during the request into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mlframework.urls"

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
                "mlframework.core.context_processors.permissions",
            ],
        },
    },
]

WSGI_APPLICATION = "mlframework.wsgi.application"


def _database(db) -> dict:
    settings = {"ENGINE": db.ENGINES[db.engine], "NAME": db.name}
    if db.engine == "sqlite":
        path = CONFIG.path(db.name)
        settings["NAME"] = str(path)
        settings["OPTIONS"] = {"timeout": 20, **db.options}
        # A file, not memory, so that workers and cron jobs started by the
        # tests see the test database.
        settings["TEST"] = {"NAME": str(path.with_name(f"test_{path.name}"))}
        # Kept open between requests: opening a SQLite file, running the
        # init pragmas and closing it (the last close of a WAL database
        # checkpoints it) cost ~1 ms of every request (bench/showroom.py).
        settings.update(CONN_MAX_AGE=600, CONN_HEALTH_CHECKS=True)
        return settings
    settings.update(
        HOST=db.host,
        PORT=str(db.port or ""),
        USER=db.user,
        PASSWORD=db.password,
        CONN_MAX_AGE=60,
        CONN_HEALTH_CHECKS=True,
    )
    options = dict(db.options)
    if db.engine == "mysql":
        options.setdefault("charset", "utf8mb4")
        options.setdefault("connect_timeout", db.connect_timeout)
    elif db.engine == "postgresql":
        options.setdefault("connect_timeout", db.connect_timeout)
    settings["OPTIONS"] = options
    return settings


DATABASES = {
    "default": _database(CONFIG.databases.default),
    "events": _database(CONFIG.databases.events),
}
DATABASE_ROUTERS = ["mlframework.events.routers.EventsRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "training"],
    }
}

_VALIDATORS = "django.contrib.auth.password_validation."
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": _VALIDATORS + "UserAttributeSimilarityValidator"},
    {"NAME": _VALIDATORS + "MinimumLengthValidator"},
    {"NAME": _VALIDATORS + "CommonPasswordValidator"},
    {"NAME": _VALIDATORS + "NumericPasswordValidator"},
]
# Login throttling (django-axes): a user is locked out from one address after
# web.login_failure_limit failures, for web.lockout_minutes from the last one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = CONFIG.web.login_failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=CONFIG.web.lockout_minutes)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Refused attempts while locked do not prolong the lockout past the time shown.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "mlframework.core.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "mlframework.core.lockout.client_address"
AXES_VERBOSE = False  # no banner on every manage.py and cron-started run
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = CONFIG.web.session_age_hours * 3600
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if CONFIG.web.https:
    # Behind a TLS proxy that sets X-Forwarded-Proto (README, Security).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Joining the browsers' preload list binds every subdomain for good: the
    # domain owner's decision, not a deploy default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Only the platform's own (vendored) scripts and styles; no inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = CONFIG.web.language
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our date formats per language (mlframework/formats/); Django's fill the rest.
# Thousands separators are not on for every number (ids in URLs and htmx
# values would get them): pages group counts with the `grouped` filter.
FORMAT_MODULE_PATH = ["mlframework.formats"]
TIME_ZONE = CONFIG.web.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = CONFIG.path(CONFIG.paths.static_root)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to disk
# Django's storages chmod what they save (default 0644, which beats the umask):
# uploads and collectstatic's var/static stay private too (core/files.py).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# The JSON API: per-user tokens (created in the admin or by
# `manage.py drf_create_token USER`), or the browser session; OpenAPI schema
# at /api/schema/. Errors are JSON with a message per field.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlframework.core.lockout.LockoutTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies bounded in size and nesting; only the dataset upload takes
    # multipart (its own parsers, streaming files to disk).
    "DEFAULT_PARSER_CLASSES": ["mlframework.core.parsers.JSONBodyParser"],
    "EXCEPTION_HANDLER": "mlframework.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mlframework API",
    "DESCRIPTION": "Datasets, training, models and predictions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Two models' "status" choices: named, not numbered (drf_spectacular.W001).
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "registry.models.TrainingJob.Status",
        "VersionStatusEnum": "registry.models.ModelVersion.Status",
    },
}

# Alerts go through Django's mail backend: console by default, SMTP by config.
EMAIL_BACKEND = CONFIG.email.BACKENDS[CONFIG.email.backend]
EMAIL_HOST = CONFIG.email.host
EMAIL_PORT = CONFIG.email.port
EMAIL_HOST_USER = CONFIG.email.user
EMAIL_HOST_PASSWORD = CONFIG.email.password
EMAIL_USE_TLS = CONFIG.email.use_tls
EMAIL_USE_SSL = CONFIG.email.use_ssl
EMAIL_TIMEOUT = CONFIG.email.timeout
DEFAULT_FROM_EMAIL = CONFIG.alerts.email_from

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "mlframework.lib.redact.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": sys.stderr,
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are events (source "auth"); no line per login.
        "axes": {"level": "WARNING"},
    },
}
