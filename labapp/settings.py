"""Django settings for TP Lab.

Every value that differs between a laptop and a deployment comes from an environment variable
read through the typed helpers in ``labapp.env``; a bad value stops start-up with its name.
``TPLAB_MODE=production`` turns on the deployment hardening that ``check --deploy`` asks for.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from labapp.env import (
    env_bool, env_choice, env_dir, env_int, env_list, env_log_level, env_name, env_required, env_str,
    env_url,
)
from labapp.private_files import private_dir, private_file, sqlite_path

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = env_dir("TPLAB_STATE_DIR", BASE_DIR / ".tplab")

MODE = env_choice("TPLAB_MODE", "dev", ("dev", "production"))
PRODUCTION = MODE == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)


def _dev_secret_key() -> str:
    """A per-checkout key kept outside git, so no secret is ever committed."""
    path = private_dir(STATE_DIR) / "secret_key"
    if not path.exists():
        private_file(path).write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env_required("DJANGO_SECRET_KEY", "production needs a secret key of its own")
    env_required("DJANGO_ALLOWED_HOSTS", "production needs the host names it serves")
else:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY") or _dev_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if not PRODUCTION:
    # `lab.py run --host 0.0.0.0` (or a named host) sets the names it is reached by, so the URL it
    # prints works; production serves only the hosts its operator listed.
    ALLOWED_HOSTS += env_list("TPLAB_RUN_HOSTS", [])
    # Debug pages show these settings to whoever reaches the port: DEBUG only on loopback.
    DEBUG = DEBUG and set(ALLOWED_HOSTS) <= {"localhost", "127.0.0.1", "[::1]"}

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "labapp",
    "tpworkers",
    "lessons",
    "lessons.review",
    "lessons.classroom",  # cohorts and the instructor's dashboard (/teach/)
    "axes",
    "lessons.liveclass",  # live class mode (/teach/live/<cohort>/, /class/<code>/)
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
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# Login throttling (django-axes): 5 wrong passwords for one username from one address lock that
# pair out for 15 minutes, the admin's login included. Not by address alone: a class behind one
# NAT would lock itself out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("TPLAB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# A request body over 1 MiB is refused (400) before any view reads it: a paste may hold 64 KiB of
# text (tpworkers/diagnose/limits.py), which URL-encoding grows at most 12-fold for 4-byte
# characters, ordinary pastes about 1.2-fold.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1 << 20

# A strict Content-Security-Policy (django-csp): scripts and styles only from this site (htmx,
# uPlot and the lab's scripts are served from static/), no inline script. Inline style
# attributes stay allowed for the bar widths the templates compute (style-src-attr only).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

ROOT_URLCONF = "labapp.urls"
ASGI_APPLICATION = "labapp.asgi.application"
WSGI_APPLICATION = None

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
                "labapp.context_processors.roles",
                "lessons.review.context_processors.review_due",
            ],
        },
    },
]

_DATABASE_URL = env_url("DATABASE_URL", None, ("sqlite", "postgres", "postgresql", "pgsql"))
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL or f"sqlite:///{sqlite_path(STATE_DIR, BASE_DIR / 'db.sqlite3')}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "labapp.sqlitepool"  # connections kept between requests
    # A class writes at once (guesses, runs, the worker's rows). WAL lets readers go on while one
    # writer writes; IMMEDIATE takes the write lock when a transaction begins, so two writers
    # queue on the busy timeout instead of one failing at once with "database is locked" when
    # its read lock cannot be upgraded; synchronous=NORMAL is WAL's safe setting (no corruption,
    # the last commits may be lost on power loss, not on a crash). WAL needs a file database:
    # the tests' own database is one too, so threads in a test share it as processes do.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20, "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(STATE_DIR / "test-db.sqlite3")}
    if _DATABASE_URL and Path(DATABASES["default"]["NAME"]).parent.is_dir():
        private_file(Path(DATABASES["default"]["NAME"]))  # sessions and password hashes: 0600

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # ASVS 4.0 level 1 (2.1.1): at least 12 characters.
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lab"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Collected files are served in production; in dev whitenoise finds them where they lie.
STATIC_ROOT = STATE_DIR / "static" if PRODUCTION else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Redis carries Celery's queue and the Channels layer. `lab.py run` starts a private server and
# sets REDIS_URL; the live tests start their own. Without REDIS_URL nothing falls back to a Redis
# on localhost:6379 (it may be someone else's): commands that need no Redis (check, migrate, the
# unit tests) work, and the first thing that would talk to Redis fails naming REDIS_URL.
REDIS_URL = env_url("REDIS_URL", None, ("redis", "rediss", "unix"))

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "labapp.channel_layer.PooledRedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, the same as channels-redis' blocking
                # pop, so idle websockets die every 5 s (channels_redis#422). 15 s outlasts the
                # pop and still notices a Redis that went away.
                # A blocking pool (labapp/channel_layer.py): when a whole class connects at once,
                # a websocket waits up to `timeout` s for a free connection instead of failing
                # with MaxConnectionsError (a plain pool's limit, 100 in redis-py 8). 64 per
                # process: a group message is one connection for every watcher in the process,
                # so only connects and disconnects compete; Redis allows 10000 clients.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 64, "timeout": 20}],
                "capacity": 500,
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "labapp.no_redis.NoRedisChannelLayer"}}
    CELERY_BROKER_TRANSPORT = "labapp.no_redis:NoRedisTransport"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_name("TPLAB_QUEUE", "tplab")

# A node whose worker has not sent a heartbeat for this long shows as offline.
NODE_HEARTBEAT_S = env_int("TPLAB_NODE_HEARTBEAT_S", 10, minimum=1)
NODE_OFFLINE_AFTER_S = env_int("TPLAB_NODE_OFFLINE_AFTER_S", 45, minimum=2)

# A running task's keep-alive refreshes its run at least four times per this timeout (tpworkers/
# tasks.py), so a run this long without progress means the worker process is gone; a hung rank is
# reported by the rank pool's own step timeout instead.
RUN_STALL_TIMEOUT_S = env_int("TPLAB_RUN_STALL_TIMEOUT_S", 120, minimum=5)

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe /healthz over plain HTTP from inside the network; a redirect is a fail.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # Trusted only when the operator says a TLS proxy sets it: otherwise any client could claim
    # HTTPS by sending the header itself.
    if env_bool("TPLAB_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_log_level("TPLAB_LOG_LEVEL", "INFO")},
}

# A learner may not flood a node: runs queued or running at once, per learner.
MAX_ACTIVE_RUNS_PER_LEARNER = env_int("TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER", 2, minimum=1)
