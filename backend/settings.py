"""Settings, read from the environment (docs/operations.md, 配置 / Configuration).

Deployment configuration: database, cache, secrets, hosts, the frameworks' wiring. Product
policy (matching, claims, records, points, stats, retention, message templates) lives in
backend/policy.py; every name it exports becomes a setting here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from backend.env import env_bool, env_float, env_int, env_list, env_str
from backend.policy import *  # noqa: F403 - product policy, see backend/policy.py

# PATHS
# ------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent

# GENERAL
# ------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off (the README's run command generates one)."
        )
    SECRET_KEY = "insecure-local-development-key-only-for-debug"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# APPS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "stations",
    "members",
    "services",
    # Creates the database cache's table on migrate (backend/cache.py); no models.
    "backend.cache.CacheTableConfig",
]

# MIDDLEWARE
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    # Outermost: the request id (X-Request-ID) is bound before anything logs, then one log line
    # and the request metrics per request (docs/operations.md, Logs and Metrics).
    "backend.request_id.RequestIdMiddleware",
    "backend.logging.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Errors under /open311/ in Open311's shape: outermost but for SecurityMiddleware, so the
    # body-size 413 and Django's own 404/500 are rewritten too.
    "services.open311.middleware.Open311ErrorMiddleware",
    "backend.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Every full phone number shown to staff leaves a pii_viewed Event (accounts.pii_audit).
    "accounts.pii_audit.PiiAuditMiddleware",
    # Reporting GETs (statistics, exports, dashboard, Open311) read the replica when configured.
    "backend.routers.ReplicaReadsMiddleware",
]

# URLS
# ------------------------------------------------------------------------------
ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

# TEMPLATES
# ------------------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# DATABASES
# ------------------------------------------------------------------------------
# SQLite by default: zero set-up. IMMEDIATE transactions take the write lock at BEGIN, so two
# writers queue on the busy timeout instead of failing with "database is locked" on upgrade.
SQLITE_PATH = env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if not _db.get("ENGINE"):
        raise ImproperlyConfigured("DATABASE_URL names an unsupported database")
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": SQLITE_PATH}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_TIMEOUT", 20, minimum=1),
            # A 64 MiB page cache and memory-mapped reads: the default 2 MiB cache made the
            # matcher's index reads ~25% slower at 100k requests (bench/matching.py).
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;"
            ),
        }
    )
    _db.setdefault("TEST", {})["NAME"] = env_str(
        "SQLITE_TEST_PATH", str(BASE_DIR / ".test-db.sqlite3")
    )
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Server-side prepared statements for the few fixed hot reads that ask for them (matching:
    # services.matching.queries), after this many runs on a connection; the ORM's client-side
    # cursors never prepare. DB_PREPARE_THRESHOLD=-1 turns them off (e.g. behind PgBouncer in
    # transaction mode before 1.21).
    _threshold = env_int("DB_PREPARE_THRESHOLD", 5, minimum=-1)
    _db.setdefault("OPTIONS", {})["prepare_threshold"] = None if _threshold < 0 else _threshold
# A pooled connection (CONN_MAX_AGE) is checked before each request reuses it: after the
# database restarts the first query of a request would otherwise fail on the dead socket, one 500
# per kept connection (docs/operations.md, 故障 / Faults).
_db["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)
DATABASES = {"default": _db}
# A streaming read replica (docs/operations.md, Read replica): statistics, exports, the dashboard
# and Open311's reads go there (backend/routers.py); every workflow read and write stays on the
# primary. The same engine as the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    if not DATABASE_URL:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL (the primary)")
    try:
        _replica = dj_database_url.parse(
            DATABASE_REPLICA_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60)
        )
    except Exception as exc:
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URL is not a valid database URL: {exc}"
        ) from None
    if _replica.get("ENGINE") != _db["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must use the primary's database engine")
    _replica["OPTIONS"] = dict(_db.get("OPTIONS", {}))
    # The test runner creates no database on the (read-only) standby: it reads the primary's test
    # database there, which the standby replays.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["backend.routers.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The requests' covering index INCLUDEs ends_at on PostgreSQL only (services.models
# ServiceRequest, issue 22); on SQLite Django leaves the INCLUDE out, as intended, and would
# otherwise warn about it at every migrate and runserver.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# CACHES
# ------------------------------------------------------------------------------
# Throttle counters and cached WeChat tokens must be one store for every process, or each
# gunicorn worker counts alone. Redis when REDIS_URL is set; otherwise a table in the project's
# database, shared by every process that uses the database (backend/cache.py: atomic counters;
# migrate creates the table).
REDIS_URL = env_str("REDIS_URL")
_database_cache = {
    "BACKEND": "backend.cache.DatabaseCache",
    "LOCATION": "wwqz_cache",
    # Past this many rows a write first deletes the expired ones, then a third of the
    # rest: keep it well above the live counters (clients × scopes × 2 windows).
    "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 100_000, minimum=1000)},
}
if REDIS_URL:
    # Redis answers in well under a millisecond on a LAN: a frozen one must cost a request a
    # fraction of a second, not redis-py's default of waiting forever (or django-redis's 5 s
    # elsewhere). When Redis fails, every use falls back to the database cache table for
    # REDIS_RETRY_SECONDS (backend/cache.py, docs/operations.md 故障 / Faults).
    CACHES = {
        "default": {
            "BACKEND": "backend.cache.RedisWithFallback",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.25, minimum=0.01),
                "SOCKET_TIMEOUT": env_float("REDIS_SOCKET_TIMEOUT", 0.25, minimum=0.01),
                "FALLBACK": "fallback",
                "RETRY_SECONDS": env_float("REDIS_RETRY_SECONDS", 5.0, minimum=0.1),
            },
            "KEY_PREFIX": "wwqz",
        },
        "fallback": {**_database_cache, "KEY_PREFIX": "wwqz"},
    }
else:
    CACHES = {"default": _database_cache}

# AUTHENTICATION
# ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# INTERNATIONALIZATION
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
# The project's own translations: Chinese names of third-party models in the admin.
LOCALE_PATHS = [BASE_DIR / "locale"]

# STATIC FILES AND UPLOADS
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Bodies above this are refused with 413 before parsing (uploads included).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# JSON bodies nested deeper than this are refused with 400 json_too_deep before parsing.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32, minimum=4)

# Photo evidence (services.attachments, docs/attachments.md#存储--storage). Never served from
# MEDIA_URL: only through short-lived signed URLs. A local folder by default (outside any static
# or media root); S3-compatible storage (django-storages) when ATTACHMENTS_S3_BUCKET is set, the
# bucket private and every URL presigned. Credentials: ATTACHMENTS_S3_ACCESS_KEY_ID and
# ATTACHMENTS_S3_SECRET_ACCESS_KEY, else boto3's own chain (AWS_* variables, instance role).
ATTACHMENTS_ROOT = env_str("ATTACHMENTS_ROOT", str(BASE_DIR / ".local" / "attachments"))
ATTACHMENTS_S3_BUCKET = env_str("ATTACHMENTS_S3_BUCKET")
if ATTACHMENTS_S3_BUCKET:
    _attachments_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATTACHMENTS_S3_BUCKET,
            "endpoint_url": env_str("ATTACHMENTS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("ATTACHMENTS_S3_REGION") or None,
            "access_key": env_str("ATTACHMENTS_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("ATTACHMENTS_S3_SECRET_ACCESS_KEY") or None,
            "addressing_style": env_str("ATTACHMENTS_S3_ADDRESSING_STYLE") or None,
            "location": env_str("ATTACHMENTS_S3_PREFIX", "attachments"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            "signature_version": "s3v4",
        },
    }
else:
    _attachments_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # base_url is never used: local files are served by the signed view only.
        "OPTIONS": {"location": ATTACHMENTS_ROOT, "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": _attachments_storage,
}

# DJANGO REST FRAMEWORK
# ------------------------------------------------------------------------------
# Throttles. Scoped rates, "N/sec|min|hour|day" (accounts.throttles.ScopedThrottle reads them
# per request). Counters live in the shared cache above (the database, or Redis when REDIS_URL
# is set), so the limits hold across gunicorn workers, and across hosts with Redis.
_throttle_rates = {
    # Anonymous, so per client address: token obtain and refresh, WeChat sign-in, activation.
    "login": env_str("THROTTLE_LOGIN", "10/min"),
    "wechat_login": env_str("THROTTLE_WECHAT_LOGIN", "20/min"),
    "member_activate": env_str("THROTTLE_MEMBER_ACTIVATE", "10/min"),
    # Open311: public reads per client address; posts per API key.
    "open311_read": env_str("THROTTLE_OPEN311_READ", "120/min"),
    "open311_write": env_str("THROTTLE_OPEN311_WRITE", "30/min"),
    # Per signed-in user: claims (POST requests/{id}/claims/), record submissions (POST
    # requests/{id}/record/), exports (GET stats/export/).
    "claims": env_str("THROTTLE_CLAIMS", "30/min"),
    "records": env_str("THROTTLE_RECORDS", "20/min"),
    "exports": env_str("THROTTLE_EXPORTS", "10/min"),
    # Per client address: the signed photo links (GET attachments/<token>/), thumbnails included.
    "attachments": env_str("THROTTLE_ATTACHMENTS", "600/min"),
    # Certificates: requests and PDF downloads per signed-in user (POST me/certificates/,
    # GET certificates/{id}/pdf/) and the public
    # verification (/verify/<code>, api/v1/verify/<code>/) per client address.
    "certificates": env_str("THROTTLE_CERTIFICATES", "10/min"),
    "certificate_verify": env_str("THROTTLE_CERTIFICATE_VERIFY", "30/min"),
}
# How many proxies in front append their peer to X-Forwarded-For (1 behind the nginx of
# docs/operations.md). Unset or 0, throttles key on the socket peer (REMOTE_ADDR) and ignore the
# header, which the client writes; N, on the N-th address from its right
# (accounts.throttles.client_address).
_num_proxies = (
    {"NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0)}
    if env_str("NUM_PROXIES", "").strip()
    else {}
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.SessionJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["accounts.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "backend.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": _throttle_rates,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    **_num_proxies,
}

# SIMPLE JWT
# ------------------------------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
if SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] > timedelta(minutes=30):
    raise ImproperlyConfigured("JWT_ACCESS_MINUTES must be at most 30")
if SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] > timedelta(days=14):
    raise ImproperlyConfigured("JWT_REFRESH_DAYS must be at most 14")

# DRF-SPECTACULAR (OpenAPI)
# ------------------------------------------------------------------------------
SPECTACULAR_SETTINGS = {
    "TITLE": "我为群众办一事 API",
    "DESCRIPTION": (
        "志愿服务需求对接后端：驿站与村社发布需求，按专长与位置匹配委员团队，委员认领、签到、"
        "记录服务人次（暖企、暖岙、暖心）。所有错误响应形如 "
        '`{"code", "detail", "fields"?}`。'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per enum in the schema: several models have a "kind" or a "status".
    "ENUM_NAME_OVERRIDES": {
        "CampaignKindEnum": "services.models.Campaign.Kind",
        "ServiceRequestStatusEnum": "services.models.ServiceRequest.Status",
        "ClaimStatusEnum": "services.models.Claim.Status",
        "TownKindEnum": "stations.models.Town.Kind",
        "StationKindEnum": "stations.models.Station.Kind",
        "VillageKindEnum": "stations.models.Village.Kind",
        "ServiceRecordStatusEnum": "services.models.ServiceRecord.Status",
        "PointRuleKindEnum": "services.models.PointRule.Kind",
        "CertificateStatusEnum": "services.models.Certificate.Status",
        "StatsBreakdownEnum": "services.stats.selectors.BREAKDOWN_CHOICES",
        "StatsExportFormatEnum": "services.stats.exports.FORMAT_CHOICES",
        "StatsExportSheetEnum": "services.stats.exports.SHEET_CHOICES",
        "IntakeStatusEnum": "services.models.Intake.Status",
        "IntakeSourceEnum": "services.models.Intake.Source",
        "EnterpriseAppealStatusEnum": "services.models.EnterpriseAppeal.Status",
        "EnterpriseAppealSourceEnum": "services.models.EnterpriseAppeal.Source",
        "EnterpriseLiaisonRoleEnum": "services.models.EnterpriseLiaison.Role",
        "EnterpriseFiguresByEnum": "services.enterprises.figures.BY_CHOICES",
        # The anomaly flags of a service record (services.records.anomalies), not a bare "Code".
        "AnomalyFlagCodeEnum": "services.records.anomalies.ALL_CODES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backend.schema.add_error_responses",
        "backend.schema.close_request_bodies",
        "backend.schema.hoist_branch_defaults",
    ],
}

# API
# ------------------------------------------------------------------------------
# Idempotency-Key: replays within this many hours return the stored response.
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# The lease of a key in flight: its owner renews it every third of this while it works, so a key
# whose lease ran out belongs to a dead process and the next replay runs it again. A replay while
# the owner lives answers 409 idempotency_in_progress at once, with Retry-After.
IDEMPOTENCY_LEASE_SECONDS = env_float("IDEMPOTENCY_LEASE_SECONDS", 10.0, minimum=0.5)
IDEMPOTENCY_RETRY_AFTER_SECONDS = env_int("IDEMPOTENCY_RETRY_AFTER_SECONDS", 1, minimum=1)

# GET /me/ merges one section per provider: each takes the user and returns a dict.
ME_SECTIONS: list[str] = [
    "members.selectors.me_section",
    "services.records.points.me_section",
]

# CELERY
# ------------------------------------------------------------------------------
# Optional: with a broker, notify() queues accounts.tasks.drain_outbox after commit and beat runs
# the schedule below; without one, run `manage.py run_outbox` beside the server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat log through LOGGING above (JSON lines with the task's request id), not
# Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queueing after a commit tries the broker briefly: a broker that is down must not hold up the
# request (the row waits in the outbox for beat's drain). Workers reconnect on their own terms.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Entries whose task is not defined (yet) are dropped by backend.celery when beat starts.
CELERY_BEAT_SCHEDULE = {
    "drain-outbox": {
        "task": "accounts.tasks.drain_outbox",
        "schedule": env_float("CELERY_DRAIN_OUTBOX_SECONDS", 60.0, minimum=1),
    },
    "send-reminders": {
        "task": "services.tasks.send_reminders",
        "schedule": env_float("CELERY_SEND_REMINDERS_SECONDS", 300.0, minimum=1),
    },
    "expire-overdue": {
        "task": "services.tasks.expire_overdue",
        "schedule": env_float("CELERY_EXPIRE_OVERDUE_SECONDS", 300.0, minimum=1),
    },
    "notify-untriaged-intakes": {
        "task": "services.tasks.notify_untriaged_intakes",
        "schedule": env_float("CELERY_NOTIFY_UNTRIAGED_SECONDS", 900.0, minimum=60),
    },
    "notify-overdue-appeals": {
        "task": "services.tasks.notify_overdue_appeals",
        "schedule": env_float("CELERY_NOTIFY_OVERDUE_APPEALS_SECONDS", 3600.0, minimum=60),
    },
    "purge-personal-data": {
        "task": "services.tasks.purge_personal_data",
        "schedule": env_float("CELERY_PURGE_PERSONAL_DATA_SECONDS", 86400.0, minimum=60),
    },
}

# WECHAT AND THE NOTIFICATION OUTBOX
# ------------------------------------------------------------------------------
# Mini-program sign-in and subscribe messages (accounts.wechat_messages); the template table is
# product policy (backend/policy.py).
WECHAT_APPID = env_str("WECHAT_APPID", "")
WECHAT_SECRET = env_str("WECHAT_SECRET", "")
WECHAT_API_BASE = env_str("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
WECHAT_TIMEOUT = env_float("WECHAT_TIMEOUT", 5.0, minimum=0.1)
# "developer" / "trial" / "formal": which build of the mini-program a message opens.
WECHAT_MINIPROGRAM_STATE = env_str("WECHAT_MINIPROGRAM_STATE", "formal")
if WECHAT_MINIPROGRAM_STATE not in {"developer", "trial", "formal"}:
    raise ImproperlyConfigured("WECHAT_MINIPROGRAM_STATE must be developer, trial or formal")
# The cached access token is dropped this many seconds before WeChat says it expires.
WECHAT_TOKEN_MARGIN_SECONDS = env_int("WECHAT_TOKEN_MARGIN_SECONDS", 300, minimum=0)

# Outbox (accounts.outbox): a sender takes this many due rows at a time.
OUTBOX_BATCH_SIZE = env_int("OUTBOX_BATCH_SIZE", 20, minimum=1)
# Retries of a failed send wait OUTBOX_BACKOFF_SECONDS * 2^(attempt-1), at most the cap; after
# OUTBOX_MAX_ATTEMPTS sends the row is `failed`.
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 6, minimum=1)
OUTBOX_BACKOFF_SECONDS = env_int("OUTBOX_BACKOFF_SECONDS", 60, minimum=1)
OUTBOX_BACKOFF_MAX_SECONDS = env_int("OUTBOX_BACKOFF_MAX_SECONDS", 3600, minimum=1)
if OUTBOX_BACKOFF_MAX_SECONDS < OUTBOX_BACKOFF_SECONDS:
    raise ImproperlyConfigured("OUTBOX_BACKOFF_MAX_SECONDS must be >= OUTBOX_BACKOFF_SECONDS")
# A taken row is leased for this long, and the lease is renewed just before the row is sent
# (accounts.outbox), so it must outlast one send: at most three WeChat calls (token, send, send
# after a token refresh), each a connect and a read of up to WECHAT_TIMEOUT, plus the database
# round trips around them (OUTBOX_LEASE_MARGIN_SECONDS). A shorter lease lets a second sender take
# a row that is still being sent, and send it again.
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300, minimum=1)
OUTBOX_LEASE_MARGIN_SECONDS = 10
if OUTBOX_LEASE_SECONDS < 6 * WECHAT_TIMEOUT + OUTBOX_LEASE_MARGIN_SECONDS:
    raise ImproperlyConfigured(
        "OUTBOX_LEASE_SECONDS must be at least 6 * WECHAT_TIMEOUT + 10 (one send's longest time)"
    )
# `run_outbox` waits this long after a database error, doubling up to the cap, then resumes.
OUTBOX_DB_RETRY_SECONDS = env_float("OUTBOX_DB_RETRY_SECONDS", 1.0, minimum=0.01)
OUTBOX_DB_RETRY_MAX_SECONDS = env_float("OUTBOX_DB_RETRY_MAX_SECONDS", 30.0, minimum=0.01)
# `manage.py run_outbox` sleeps this long when nothing is due.
OUTBOX_POLL_SECONDS = env_float("OUTBOX_POLL_SECONDS", 5.0, minimum=0.1)

# LOGGING
# ------------------------------------------------------------------------------
# One JSON object per line on stderr (backend/logging.py), for the journal and a log shipper;
# LOG_FORMAT=text for people (the Makefile's `make run` sets it).
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "backend.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "backend.logging.JsonLineFormatter"},
        "text": {"()": "backend.logging.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django.request's 4xx/5xx warnings repeat backend.request's line; its errors (500s) stay.
    "loggers": {"django.request": {"level": "ERROR"}},
}

# METRICS AND ERROR REPORTING
# ------------------------------------------------------------------------------
# GET /metrics answers this bearer token only; unset, /metrics is 404 (backend/metrics.py).
# Under gunicorn also set PROMETHEUS_MULTIPROC_DIR (docs/operations.md, Metrics).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Errors to Sentry when set, scrubbed of phones, names, tokens and WeChat codes (backend/sentry.py).
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0)
if SENTRY_DSN:
    from backend.sentry import init as _sentry_init

    _sentry_init(SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_TRACES_SAMPLE_RATE)

# SECURITY AND DEPLOYMENT
# ------------------------------------------------------------------------------
# HTTPS (production). HTTPS=1 behind TLS: redirect plain HTTP, secure cookies, HSTS. Off by
# default, so `make run` keeps serving plain HTTP on 127.0.0.1. `manage.py check --deploy
# --fail-level WARNING` passes with DEBUG=0, HTTPS=1, a long random SECRET_KEY and ALLOWED_HOSTS.
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("HTTPS_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)
    # Load balancers and monitors probe the health check over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# The header a TLS-terminating proxy sets to the original scheme (e.g. X-Forwarded-Proto).
# Set it only when that proxy always overwrites the header: a client could otherwise claim
# HTTPS. Gunicorn on loopback behind nginx already trusts X-Forwarded-Proto from 127.0.0.1.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in _proxy_ssl_header):
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be a header name")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
