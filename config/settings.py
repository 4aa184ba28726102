"""Botfleet settings: one module, driven by environment variables.

Two run modes share this file (see README "Configuration"):

* embedded default — no ``DATABASE_URL``/``REDIS_URL``: SQLite in ``BOTFLEET_DATA_DIR``,
  Django's database cache (in its own SQLite file, so cache writes never queue behind
  business writes on SQLite's single writer lock), the in-memory channel layer and
  kombu's filesystem broker. Safe defaults, nothing to install.
* production — ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` switch the database, cache,
  channel layer and broker to the real services, with bounded timeouts everywhere.

``DEBUG`` is off unless asked for; with it off, ``SECRET_KEY``, ``FERNET_KEYS`` and
``ALLOWED_HOSTS`` must come from the environment (the embedded mode generates local
keys in the data folder instead, and says so).
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from pathlib import Path

import environ

from config import localkeys

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; the process environment always wins.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------------------
# Run mode
# ---------------------------------------------------------------------------
DATA_DIR = Path(env("BOTFLEET_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATABASE_URL = env("DATABASE_URL", default="")
REDIS_URL = env("REDIS_URL", default="")
EMBEDDED = not DATABASE_URL
DEBUG = env.bool("DEBUG", default=False)
# The embedded mode is a single-machine product meant to run from a fresh clone; it
# may create its own local secrets. Production (a DATABASE_URL) may not.
ALLOW_LOCAL_SECRETS = env.bool("BOTFLEET_LOCAL_SECRETS", default=EMBEDDED or DEBUG)

VERSION = "0.1.0"

# ---------------------------------------------------------------------------
# Security
# ---------------------------------------------------------------------------
if ALLOW_LOCAL_SECRETS:
    SECRET_KEY = env("SECRET_KEY", default="") or localkeys.secret_key(DATA_DIR)
else:
    SECRET_KEY = env("SECRET_KEY")  # no default: production refuses to start without it

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=["localhost", "127.0.0.1", "[::1]", "testserver"] if ALLOW_LOCAL_SECRETS else [],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Browser origins allowed to open the WebSocket and call the API cross-origin.
# Empty means "same host only" (see realtime's origin validation).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

# How many reverse proxies in front of us append to X-Forwarded-For. 0 = trust nothing
# but REMOTE_ADDR, so a client cannot pick its own IP to dodge lockouts and throttles.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not ALLOW_LOCAL_SECRETS)
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^api/ready$", r"^api/metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if ALLOW_LOCAL_SECRETS else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Preload only means the header allows submission to browsers' preload lists.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS >= 31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not ALLOW_LOCAL_SECRETS
CSRF_COOKIE_SECURE = not ALLOW_LOCAL_SECRETS
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# ---------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "adminpanel.apps.BotfleetAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI and ReDoc from this package, not a CDN: offline installs work, nothing floats.
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "accounts",
    "credentials",
    "realtime",
    "bots",
    "signals",
    "training",
    "adminpanel",
    "notifications",
    "web",
    # Last: its post_migrate creates the cache table (config.apps).
    "config.apps.BotfleetConfig",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.middleware.MetricsMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS, the API docs' assets) in every layout, with no proxy rule needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiErrorMiddleware",
    # Last, so it sees the final response; turns lockouts of the admin login into 429s.
    # axes' own, with its async path fixed (accounts/lockout.py).
    "accounts.lockout.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
APPEND_SLASH = False

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

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=5)

if EMBEDDED:
    _SQLITE_OPTIONS = {
        # Seconds a writer waits for SQLite's lock before "database is locked".
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        # Take the write lock at BEGIN: a deferred transaction that later upgrades to a
        # writer fails immediately (no busy wait) when another process writes.
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES = {
        "default": {
            # Django's SQLite backend, with money stored and summed exactly (not as floats).
            "ENGINE": "bots.sqlite_exact",
            "NAME": DATA_DIR / "botfleet.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
            # Django's default for SQLite, said out loud: pytest-django's parallel workers
            # recognise an in-memory test database only by this name or by the stock engine.
            "TEST": {"NAME": ":memory:"},
        },
        "cache": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "cache.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
        },
    }
    DATABASE_ROUTERS = ["config.routers.CacheDatabaseRouter"]
else:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    if env.bool("DATABASE_POOL", default=False):
        # ASGI processes: one connection per request thread does not survive there
        # (DESIGN.md "Measured"); psycopg's pool bounds and reuses them instead.
        _options["pool"] = {
            "min_size": 1,
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": DB_CONNECT_TIMEOUT,
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        # Off by default: Django's health check is a "SELECT 1" round trip before every
        # request's first query (a fifth of /api/auth/me's time in bench/http_load.py).
        # Without it a connection broken by a database restart fails one request per
        # process, which answers a 503 and is then replaced.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_HEALTH_CHECKS", default=False)
    DATABASES["default"].setdefault("TEST", {})
    if env("TEST_DATABASE_NAME", default=""):
        DATABASES["default"]["TEST"]["NAME"] = env("TEST_DATABASE_NAME")

# ---------------------------------------------------------------------------
# Cache, channel layer, broker
# ---------------------------------------------------------------------------
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)
KEY_PREFIX = env("CACHE_KEY_PREFIX", default="botfleet")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite in parallel workers that share one Redis; the suite deletes
    # its own prefix's keys between tests, so each worker keys its cache and channel layer
    # apart. (pytest-django gives each worker its own test database the same way: _gw0, ...)
    KEY_PREFIX = f"{KEY_PREFIX}-{os.environ['PYTEST_XDIST_WORKER']}"

if env("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, minus a new client object per call (see the module).
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": KEY_PREFIX,
            "OPTIONS": {
                # A hung Redis must never hang a request.
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "health_check_interval": 30,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "botfleet_cache",
            "KEY_PREFIX": KEY_PREFIX,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
# DRF's throttle counters (core.throttles). The embedded default serves HTTP from one process
# (Procfile.embedded's ASGI server), so its counters live in that process's memory: exact (a
# locked increment), free, and never refused. In the shared SQLite cache each request was a write
# transaction; a flood queued them past the busy timeout and the throttle, failing open on
# "database is locked", let the whole flood through. Several web processes need Redis (or CACHE_URL).
THROTTLE_CACHE = "default"
if EMBEDDED and CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    THROTTLE_CACHE = "throttle"
    CACHES[THROTTLE_CACHE] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "botfleet-throttle",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub delivers to every subscriber without per-channel capacity queues
            # (the classic layer dropped bursts; DESIGN.md "Measured"). Losses on either
            # are repaired by seq replay from the event table.
            # channels_redis's pub/sub layer, plus a message to every local consumer when its
            # subscription reconnects, so it catches up from the event table.
            "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": REDIS_SOCKET_TIMEOUT * 5,
                        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                    }
                ],
                "prefix": f"{KEY_PREFIX}:asgi",
            },
        }
    }
else:
    # A roomy per-consumer queue: a burst for one user must not overflow it before the
    # consumer runs (a drop would be repaired by replay, but costs a round trip).
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, made tear-proof (write-then-rename; config.broker explains).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        # Seconds between two looks at the folder when it was empty (kombu's default: 1).
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": REDIS_SOCKET_TIMEOUT * 5,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
        # Tasks are idempotent and re-dispatched by beat; redelivery is a bonus only.
        "visibility_timeout": 600,
    }
    if env("CELERY_BROKER_KEY_PREFIX", default=""):  # several deployments (or benchmarks) on one Redis
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_BROKER_KEY_PREFIX")
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT * 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=100)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Two queues, each with workers of its own (Procfile, Procfile.embedded): bot ticks and
# housekeeping on the default one; notification deliveries on theirs, so a slow or hung
# receiver never holds a tick up and a burst of ticks never delays an alert (issue 21).
CELERY_TASK_DEFAULT_QUEUE = "celery"
NOTIFICATIONS_QUEUE = "notifications"
CELERY_TASK_ROUTES = {"notifications.tasks.*": {"queue": NOTIFICATIONS_QUEUE}}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Celery closes the DB connection around every task unless told to reuse it
# (DESIGN.md "Measured": 246 → 893 inserts/s). Read by Celery's Django fix-up.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# ---------------------------------------------------------------------------
# Feature flags (read at process start; see core.flags)
# ---------------------------------------------------------------------------
ENABLE_TRADING = env.bool("ENABLE_TRADING", default=False)
ENABLE_SCHEDULERS = env.bool("ENABLE_SCHEDULERS", default=False)
ENABLE_AUTOPILOT = env.bool("ENABLE_AUTOPILOT", default=False)
DISABLE_AI_BODYGUARD = env.bool("DISABLE_AI_BODYGUARD", default=False)
LIVE_MIN_TRAINING_HOURS = env.float("LIVE_MIN_TRAINING_HOURS", default=24.0)
# Autopilot promotes an eligible bot only when its training passes all three (training.services):
# at least this many fills, a max drawdown of at most this fraction (0.10 = 10 %), PnL ≥ this.
AUTOPILOT_MIN_TRADES = env.int("AUTOPILOT_MIN_TRADES", default=5)
AUTOPILOT_MAX_DRAWDOWN_PCT = env.float("AUTOPILOT_MAX_DRAWDOWN_PCT", default=0.10)
AUTOPILOT_MIN_PNL = env.float("AUTOPILOT_MIN_PNL", default=0.0)
REPORTING_CURRENCY = env("REPORTING_CURRENCY", default="USDT")
# analytics/summary is cached per user this long (0: not cached). The services that change
# a user's bots retire the entry at once; the TTL bounds how old its conversion rates get.
ANALYTICS_SUMMARY_CACHE_SECONDS = env.int("ANALYTICS_SUMMARY_CACHE_SECONDS", default=30)
ADMIN_REQUIRE_UNLOCK = env.bool("ADMIN_REQUIRE_UNLOCK", default=False)

# ---------------------------------------------------------------------------
# Engine (bots.engine): dispatch, limits, paper fills and the bodyguard
# ---------------------------------------------------------------------------
ENGINE_DISPATCH_SECONDS = env.float("ENGINE_DISPATCH_SECONDS", default=5.0)
ENGINE_BATCH_SIZE = env.int("ENGINE_BATCH_SIZE", default=500)
ENGINE_LEASE_SECONDS = env.float("ENGINE_LEASE_SECONDS", default=60.0)
ENGINE_HEARTBEAT_SECONDS = env.float("ENGINE_HEARTBEAT_SECONDS", default=10.0)
ENGINE_HOUSEKEEPING_SECONDS = env.float("ENGINE_HOUSEKEEPING_SECONDS", default=30.0)
# An order whose outcome is unknown and that the venue cannot find is closed after this.
ENGINE_UNKNOWN_GRACE_SECONDS = env.float("ENGINE_UNKNOWN_GRACE_SECONDS", default=30.0)
# Oldest ticker a real venue's exits, sizing and paper fills may be judged on (one fetch per
# venue and symbol per this many seconds for the whole fleet).
ENGINE_PRICE_MAX_AGE_SECONDS = env.float("ENGINE_PRICE_MAX_AGE_SECONDS", default=5.0)
ENGINE_MAX_DAILY_TRADES = env.int("ENGINE_MAX_DAILY_TRADES", default=200)
ENGINE_TRADE_COOLDOWN_SECONDS = env.float("ENGINE_TRADE_COOLDOWN_SECONDS", default=0.0)
ENGINE_STOP_LOSS_PCT = env("ENGINE_STOP_LOSS_PCT", default=None)  # fleet default; fractions
ENGINE_TAKE_PROFIT_PCT = env("ENGINE_TAKE_PROFIT_PCT", default=None)
PAPER_FEE_PCT = env("PAPER_FEE_PCT", default="0.001")
# Backtests (README "Backtests and the candle store"): limits per run, per sweep and per user.
BACKTEST_MAX_CANDLES = env.int("BACKTEST_MAX_CANDLES", default=1_000_000)
BACKTEST_MAX_COMBINATIONS = env.int("BACKTEST_MAX_COMBINATIONS", default=500)
BACKTEST_MAX_CONCURRENT = env.int("BACKTEST_MAX_CONCURRENT", default=3)
BACKTEST_LEASE_SECONDS = env.int("BACKTEST_LEASE_SECONDS", default=600)
PAPER_SLIPPAGE_PCT = env("PAPER_SLIPPAGE_PCT", default="0.0005")
BODYGUARD_MAX_DRAWDOWN_PCT = env.float("BODYGUARD_MAX_DRAWDOWN_PCT", default=0.20)
BODYGUARD_LOSS_STREAK = env.int("BODYGUARD_LOSS_STREAK", default=5)
BODYGUARD_STOP_LOSSES = env.int("BODYGUARD_STOP_LOSSES", default=3)
BODYGUARD_STOP_LOSS_WINDOW_SECONDS = env.float("BODYGUARD_STOP_LOSS_WINDOW_SECONDS", default=3600.0)
BODYGUARD_ERROR_TICKS = env.int("BODYGUARD_ERROR_TICKS", default=5)

# ---------------------------------------------------------------------------
# Encrypted fields
# ---------------------------------------------------------------------------
# The first key encrypts, every key decrypts (rotation: prepend a new key, run
# `manage.py rotate_credentials`, then drop the old one).
if ALLOW_LOCAL_SECRETS:
    FERNET_KEYS = env.list("FERNET_KEYS", default=[]) or [localkeys.fernet_key(DATA_DIR)]
else:
    FERNET_KEYS = env.list("FERNET_KEYS")
FERNET_USE_HKDF = False  # keys are Fernet keys already, not passwords to derive from

# Venues (credentials.providers). VENUE_URLS re-points a venue at another base URL
# (a testnet, a proxy, the tests' fake exchange): "binance=http://127.0.0.1:9000,angelone=…".
VENUE_URLS = env.dict("VENUE_URLS", default={})
VENUE_TIMEOUT_SECONDS = env.float("VENUE_TIMEOUT_SECONDS", default=10.0)
KEYS_TEST_TIMEOUT_SECONDS = env.float("KEYS_TEST_TIMEOUT_SECONDS", default=10.0)

# ---------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailOrUsernameBackend",
]
# Argon2id (accounts/hashers.py); PBKDF2 hashes of earlier installs verify and are upgraded
# at the next login. OWASP lists equivalent settings, e.g. 47104 KiB with 1 pass.
PASSWORD_ARGON2_MEMORY_KIB = env.int("PASSWORD_ARGON2_MEMORY_KIB", default=19_456)
PASSWORD_ARGON2_TIME_COST = env.int("PASSWORD_ARGON2_TIME_COST", default=2)
PASSWORD_ARGON2_PARALLELISM = env.int("PASSWORD_ARGON2_PARALLELISM", default=1)
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": 5,
}

# Lockout after repeated failed logins, per account and, separately, per client IP.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Axes would also clear the client IP's failures on any success, so an attacker could
# reset the per-IP counter by logging into an account of their own; the login service
# clears only the successful account's failures instead.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # successful logins go to the audit trail
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# Keeps the login API's own 429 envelope (with Retry-After) instead of axes' page.
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Attempts during a lockout do not extend it, so Retry-After tells the truth and a
# user retrying too early is not locked out for longer.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# axes checks for its middleware by name; ours is its subclass (accounts.lockout.AxesMiddleware).
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

OTP_TTL_MINUTES = 10
OTP_MAX_ATTEMPTS = 5

# ---------------------------------------------------------------------------
# REST API
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",  # exact numbers; hostile bodies are 400s
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.ContentNegotiation",
    "EXCEPTION_HANDLER": "core.envelope.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.AnonRateThrottle",
        "core.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="120/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
        "auth": env("THROTTLE_AUTH", default="30/min"),
        "otp": env("THROTTLE_OTP", default="5/min"),
        "keys_test": env("THROTTLE_KEYS_TEST", default="20/min"),
        "internal": env("THROTTLE_INTERNAL", default="6000/min"),
        # Per webhook token (signals): a burst of alerts is fine, a flood is answered 429.
        "signal_webhook": env("THROTTLE_SIGNAL_WEBHOOK", default="600/min"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "COERCE_DECIMAL_TO_STRING": False,  # money is a JSON number (API.md)
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Bodies larger than this are refused with 413 before any parser reads them.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

SPECTACULAR_SETTINGS = {
    "TITLE": "Botfleet API",
    "DESCRIPTION": "Control plane for trading bots. Errors share one envelope; see components/schemas/Error.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "ENUM_NAME_OVERRIDES": {},
    # `check --deploy` checks deployment settings; the schema is checked by the tests
    # (tests/test_ops.py), so a schema warning in one app cannot block a deploy check.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    # Swagger UI and ReDoc assets served from drf-spectacular-sidecar (static files), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Botfleet <noreply@localhost>")
EMAIL_TIMEOUT = 10

# ---------------------------------------------------------------------------
# Internationalization, static files
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves the apps' static files straight from their packages (its finders mode),
# so `make run` and every Procfile layout serve the admin's CSS without a collectstatic
# step or a proxy rule; a `collectstatic` into STATIC_ROOT is served too when present.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# Production: `manage.py collectstatic` then STATIC_MANIFEST=1 serves hashed, compressed
# files with a year's cache (core/staticfiles.py); the finders mode above stays the default
# so that a fresh clone runs without a collect step.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=False)
if STATIC_MANIFEST:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "core.staticfiles.StaticStorage"},
    }
    WHITENOISE_USE_FINDERS = False
# STATIC_ROOT exists only after a collectstatic, which the finders mode makes optional.
warnings.filterwarnings("ignore", message=r"No directory at: .*static", category=UserWarning)

# ---------------------------------------------------------------------------
# Realtime and internal ingestion
# ---------------------------------------------------------------------------
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=30)
INTERNAL_EVENTS_SECRET = env("INTERNAL_EVENTS_SECRET", default="")
INTERNAL_EVENTS_MAX_AGE_SECONDS = env.int("INTERNAL_EVENTS_MAX_AGE_SECONDS", default=300)

# Notifications (notifications/): e-mail, Telegram and signed webhooks, from the event table.
NOTIFICATIONS_HTTP_TIMEOUT = env.float("NOTIFICATIONS_HTTP_TIMEOUT", default=5.0)
NOTIFICATIONS_RETRY_BASE_SECONDS = env.float("NOTIFICATIONS_RETRY_BASE_SECONDS", default=5.0)
NOTIFICATIONS_RETRY_MAX_SECONDS = env.float("NOTIFICATIONS_RETRY_MAX_SECONDS", default=900.0)
NOTIFICATIONS_GIVE_UP_SECONDS = env.float("NOTIFICATIONS_GIVE_UP_SECONDS", default=86400.0)
NOTIFICATIONS_GROUP_SECONDS = env.float("NOTIFICATIONS_GROUP_SECONDS", default=60.0)
NOTIFICATIONS_LEASE_SECONDS = env.float("NOTIFICATIONS_LEASE_SECONDS", default=60.0)
NOTIFICATIONS_SWEEP_SECONDS = env.float("NOTIFICATIONS_SWEEP_SECONDS", default=5.0)
NOTIFICATIONS_BATCH = env.int("NOTIFICATIONS_BATCH", default=64)
NOTIFICATIONS_SENDERS = env.int("NOTIFICATIONS_SENDERS", default=16)
NOTIFICATIONS_MAX_CHANNELS = env.int("NOTIFICATIONS_MAX_CHANNELS", default=20)
# Webhooks to loopback, private, link-local (cloud metadata) addresses are refused unless on.
NOTIFICATIONS_ALLOW_PRIVATE_URLS = env.bool("NOTIFICATIONS_ALLOW_PRIVATE_URLS", default=False)
# Where the web app is served (e.g. https://botfleet.example.com): mails link to its pages.
PUBLIC_URL = env("PUBLIC_URL", default="")
TELEGRAM_API_URL = env("TELEGRAM_API_URL", default="https://api.telegram.org")
TELEGRAM_BOT_TOKEN = env("TELEGRAM_BOT_TOKEN", default="")
# The engine watchdog (on Celery beat): no worker heartbeat for this long → engine_offline.
ENGINE_OFFLINE_SECONDS = env.float("ENGINE_OFFLINE_SECONDS", default=60.0)
ENGINE_WATCH_SECONDS = env.float("ENGINE_WATCH_SECONDS", default=10.0)
# The relay (realtime.relay): its poll when no NOTIFY arrives, its lease, a send's timeout.
RELAY_POLL_SECONDS = env.float("RELAY_POLL_SECONDS", default=0.1)
RELAY_LEASE_SECONDS = env.float("RELAY_LEASE_SECONDS", default=10.0)
RELAY_SEND_TIMEOUT = env.float("RELAY_SEND_TIMEOUT", default=5.0)
# Under a stream of commits, how long the relay lets events gather after a batch before claiming
# the next (realtime.relay: the latency an event may gain, for far fewer claims).
RELAY_COALESCE_SECONDS = env.float("RELAY_COALESCE_SECONDS", default=0.01)
# The embedded mode runs the relay inside the ASGI server; production runs `manage.py relay_events`.
RELAY_IN_ASGI = env.bool("RELAY_IN_ASGI", default=EMBEDDED)
# Streams (API.md "realtime"); intervals are settings so tests can shorten them.
REALTIME_WS_PING_SECONDS = env.float("REALTIME_WS_PING_SECONDS", default=30.0)
REALTIME_WS_AUTH_TIMEOUT = env.float("REALTIME_WS_AUTH_TIMEOUT", default=5.0)
# Messages queued for one WebSocket client; a client that lets more pile up is closed (1013).
REALTIME_WS_SEND_QUEUE = env.int("REALTIME_WS_SEND_QUEUE", default=1000)
# Open WebSockets per user, counted in the shared cache across every ASGI process (4429 past it).
REALTIME_MAX_SOCKETS_PER_USER = env.int("REALTIME_MAX_SOCKETS_PER_USER", default=20)
# resume messages one WebSocket may send per minute; more get an error and cost nothing.
REALTIME_WS_RESUMES_PER_MINUTE = env.int("REALTIME_WS_RESUMES_PER_MINUTE", default=30)
REALTIME_SSE_HEARTBEAT_SECONDS = env.float("REALTIME_SSE_HEARTBEAT_SECONDS", default=15.0)
REALTIME_SSE_OVERVIEW_SECONDS = env.float("REALTIME_SSE_OVERVIEW_SECONDS", default=15.0)
REALTIME_OVERVIEW_COALESCE_SECONDS = env.float("REALTIME_OVERVIEW_COALESCE_SECONDS", default=1.0)
REALTIME_REPLAY_PAGE = env.int("REALTIME_REPLAY_PAGE", default=500)

# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")  # "text" or "json"
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        # Masks anything named like a key, secret or signature that reaches a log line.
        "redact_secrets": {"()": "credentials.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact_secrets"],
            "formatter": LOG_FORMAT if LOG_FORMAT in ("text", "json") else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # ccxt logs request bodies (and so keys) at DEBUG; never let it.
        "ccxt": {"level": "WARNING"},
        # httpx logs every request's URL at INFO, and the Telegram Bot API's URLs hold the
        # bot token (/bot<token>/sendMessage): never let it.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
# metrics, version and the detail of status are for staff, or for a monitor that sends
# "Authorization: Bearer <OPS_TOKEN>" (accounts/ops.py). Unset: staff only.
OPS_TOKEN = env("OPS_TOKEN", default="")
# bench/http_load.py: a bare JSON view at /api/_bench/bare to compare the API against.
BENCH_ROUTES = env.bool("BOTFLEET_BENCH_ROUTES", default=False)
