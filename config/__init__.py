"""Settings classes, built from the environment.

Every setting is read through :class:`Env`, which records the names it reads so a test can
check that the README's configuration table documents each one.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me-0123456789"
MIN_PRODUCTION_SECRET_LENGTH = 32
JWT_ISSUER = "baliblissed"
JWT_AUDIENCE = "baliblissed-api"
MIN_METRICS_TOKEN_LENGTH = 16
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
PASSWORD_LEVELS = ("development", "standard", "high", "paranoid")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable system."""


class Env:
    """Typed reads of environment variables, remembering which names were asked for."""

    names_read: ClassVar[set[str]] = set()

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def str(self, name: builtins.str, default: builtins.str) -> builtins.str:
        Env.names_read.add(name)
        value = self._environ.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def int(
        self, name: builtins.str, default: builtins.int, minimum: builtins.int = 0
    ) -> builtins.int:
        raw = self.str(name, str(default))
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    def float(self, name: builtins.str, default: builtins.float) -> builtins.float:
        raw = self.str(name, str(default))
        try:
            value = float(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
        if value < 0:
            raise ConfigError(f"{name} must not be negative, got {value}")
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = self.str(name, "true" if default else "false").lower()
        if raw in TRUE_WORDS:
            return True
        if raw in FALSE_WORDS:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def list(self, name: builtins.str, default: builtins.str) -> builtins.list[builtins.str]:
        return [item.strip() for item in self.str(name, default).split(",") if item.strip()]


def broker_transport(broker_url: str) -> str | None:
    """kombu's transport class: for `redis://`, ours (one client per channel, not per message);
    otherwise the URL's scheme decides."""
    return "workers.transport:Transport" if broker_url.startswith("redis://") else None


def broker_transport_options(broker_url: str, visibility_timeout: int) -> dict[str, Any]:
    if broker_url.startswith("redis"):
        return {
            # A message not acked this long is delivered again: above the longest task plus the
            # longest retry delay (checked at start-up, see workers/app.py).
            "visibility_timeout": visibility_timeout,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
        }
    if broker_url.startswith("sqla+"):
        # kombu hands these to create_engine(); SQLite waits for the API's writes to finish.
        return {"connect_args": {"timeout": 30}}
    return {}  # AMQP: redelivery on a lost connection needs no visibility timeout


def sqlalchemy_url(database_url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` forms and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


class BaseConfig:
    """Settings shared by every environment; subclasses change defaults and checks."""

    APP_ENV = "development"
    TESTING = False
    DEFAULT_PASSWORD_LEVEL = "standard"
    DEFAULT_LOG_FORMAT = "console"

    def __init__(self, environ: Mapping[str, str]) -> None:
        env = Env(environ)
        data_dir = Path(env.str("DATA_DIR", str(PROJECT_ROOT / "var")))
        self.DATA_DIR = str(data_dir)

        self.SECRET_KEY = env.str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
        self.JWT_SECRET_KEY = env.str("JWT_SECRET_KEY", self.SECRET_KEY)
        self.ACCESS_TOKEN_EXPIRE_MINUTES = env.int("ACCESS_TOKEN_EXPIRE_MINUTES", 30, minimum=1)
        self.REFRESH_TOKEN_EXPIRE_DAYS = env.int("REFRESH_TOKEN_EXPIRE_DAYS", 7, minimum=1)
        self.LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
        self.LOG_FORMAT = env.str("LOG_FORMAT", self.DEFAULT_LOG_FORMAT).lower()
        self.PASSWORD_SECURITY_LEVEL = env.str(
            "PASSWORD_SECURITY_LEVEL", self.DEFAULT_PASSWORD_LEVEL
        ).lower()
        self.LOGIN_MAX_ATTEMPTS = env.int("LOGIN_MAX_ATTEMPTS", 5, minimum=1)
        self.LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
        self.ACCOUNT_DELETION_RECENT_SIGNIN_MINUTES = env.int(
            "ACCOUNT_DELETION_RECENT_SIGNIN_MINUTES", 10, minimum=1
        )
        self.VERIFICATION_EMAILS_PER_DAY = env.int("VERIFICATION_EMAILS_PER_DAY", 3, minimum=1)
        self.PASSWORD_RESET_EMAILS_PER_HOUR = env.int(
            "PASSWORD_RESET_EMAILS_PER_HOUR", 3, minimum=1
        )
        self.OAUTH_STATE_TTL_SECONDS = env.int("OAUTH_STATE_TTL_SECONDS", 600, minimum=60)
        self.OAUTH_CODE_TTL_SECONDS = env.int("OAUTH_CODE_TTL_SECONDS", 60, minimum=10)
        self.GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", "")
        self.GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", "")
        self.GOOGLE_AUTH_URL = env.str(
            "GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth"
        )
        self.GOOGLE_TOKEN_URL = env.str("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
        self.GOOGLE_JWKS_URL = env.str(
            "GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs"
        )
        self.GOOGLE_ISSUER = env.str("GOOGLE_ISSUER", "https://accounts.google.com")
        self.WECHAT_APP_ID = env.str("WECHAT_APP_ID", "")
        self.WECHAT_APP_SECRET = env.str("WECHAT_APP_SECRET", "")
        self.WECHAT_AUTH_URL = env.str(
            "WECHAT_AUTH_URL", "https://open.weixin.qq.com/connect/qrconnect"
        )
        self.WECHAT_TOKEN_URL = env.str(
            "WECHAT_TOKEN_URL", "https://api.weixin.qq.com/sns/oauth2/access_token"
        )
        self.WECHAT_USERINFO_URL = env.str(
            "WECHAT_USERINFO_URL", "https://api.weixin.qq.com/sns/userinfo"
        )
        self.GEMINI_API_KEY = env.str("GEMINI_API_KEY", "")
        self.GEMINI_MODEL = env.str("GEMINI_MODEL", "gemini-2.5-flash")
        self.GEMINI_BASE_URL = env.str("GEMINI_BASE_URL", "")
        self.GEMINI_TIMEOUT_SECONDS = env.int("GEMINI_TIMEOUT_SECONDS", 30, minimum=1)
        self.GEMINI_MAX_ATTEMPTS = env.int("GEMINI_MAX_ATTEMPTS", 3, minimum=1)
        self.GEMINI_RETRY_BASE_SECONDS = env.float("GEMINI_RETRY_BASE_SECONDS", 1.0)
        self.GEMINI_BREAKER_THRESHOLD = env.int("GEMINI_BREAKER_THRESHOLD", 5, minimum=1)
        self.GEMINI_BREAKER_COOLDOWN_SECONDS = env.int(
            "GEMINI_BREAKER_COOLDOWN_SECONDS", 300, minimum=1
        )
        self.GEMINI_DAILY_CALL_LIMIT = env.int("GEMINI_DAILY_CALL_LIMIT", 1000, minimum=0)
        self.ITINERARY_CACHE_TTL_HOURS = env.int("ITINERARY_CACHE_TTL_HOURS", 24, minimum=0)
        self.CHAT_TIMEOUT_SECONDS = env.int("CHAT_TIMEOUT_SECONDS", 8, minimum=1)
        self.CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", 20, minimum=2)
        self.WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
        self.WEBHOOK_RETRY_BASE_DELAY = env.int("WEBHOOK_RETRY_BASE_DELAY", 30, minimum=0)
        self.WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
        self.WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

        self.DATABASE_URL = env.str("DATABASE_URL", f"sqlite:///{data_dir / 'baliblissed.sqlite3'}")
        self.SQLALCHEMY_DATABASE_URI = sqlalchemy_url(self.DATABASE_URL)
        self.DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", 10, minimum=1)
        self.DATABASE_IDLE_PING_SECONDS = env.float("DATABASE_IDLE_PING_SECONDS", 10.0)
        # A database call waiting longer is cut (a hung server): api.database.CallDeadline.
        self.DATABASE_CALL_TIMEOUT_SECONDS = env.float("DATABASE_CALL_TIMEOUT_SECONDS", 30.0)
        # Connections gunicorn's sizing leaves to everything but the web workers (config.sizing).
        self.DATABASE_RESERVED_CONNECTIONS = env.int("DATABASE_RESERVED_CONNECTIONS", 20, minimum=0)
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options()

        self.REDIS_URL = env.str("REDIS_URL", "")
        # Security state (revocations, lockouts, OAuth state) must never be evicted: it may
        # live on its own Redis (maxmemory-policy noeviction), apart from the response cache.
        self.SECURITY_REDIS_URL = env.str("SECURITY_REDIS_URL", self.REDIS_URL)
        self.CACHE_REDIS_URL = env.str("CACHE_REDIS_URL", self.REDIS_URL)
        self.CELERY_BROKER_URL = env.str(
            "CELERY_BROKER_URL",
            self.REDIS_URL or f"sqla+sqlite:///{data_dir / 'celery-broker.sqlite3'}",
        )
        self.CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
        self.CELERY_TASK_EVENTS = env.bool("CELERY_TASK_EVENTS", False)
        self.CELERY_WORKER_PREFETCH_MULTIPLIER = env.int(
            "CELERY_WORKER_PREFETCH_MULTIPLIER", 1, minimum=1
        )
        self.BROKER_VISIBILITY_TIMEOUT_SECONDS = env.int(
            "BROKER_VISIBILITY_TIMEOUT_SECONDS", 7200, minimum=60
        )
        self.BEAT_SCHEDULE_FILE = str(data_dir / "celerybeat-schedule")
        self.FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", "")
        self.METRICS_TOKEN = env.str("METRICS_TOKEN", "")
        self.WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", 0)
        self.HOST = env.str("HOST", "127.0.0.1")

        # An accepted job starts within a minute of a worker being free, whatever died: a dead
        # worker's lease (renewed every third of it) lapses within JOB_LEASE_SECONDS, a message
        # lost with it is replaced after JOB_REQUEUE_AFTER_SECONDS, and the sweeper acts on
        # both every JOB_SWEEP_INTERVAL_SECONDS.
        self.JOB_SWEEP_INTERVAL_SECONDS = env.int("JOB_SWEEP_INTERVAL_SECONDS", 15, minimum=1)
        self.JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", 30, minimum=1)
        self.JOB_REQUEUE_AFTER_SECONDS = env.int("JOB_REQUEUE_AFTER_SECONDS", 30, minimum=1)
        self.JOB_RETRY_BASE_SECONDS = env.int("JOB_RETRY_BASE_SECONDS", 10, minimum=0)
        self.JOB_RETRY_MAX_SECONDS = env.int("JOB_RETRY_MAX_SECONDS", 600, minimum=0)
        self.JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", 5, minimum=1)
        # Waiters cost memory, not threads (gevent workers): hundreds per process.
        self.LONG_POLL_MAX_WAITERS = env.int("LONG_POLL_MAX_WAITERS", 500, minimum=1)
        self.LONG_POLL_MAX_WAITERS_PER_CALLER = env.int(
            "LONG_POLL_MAX_WAITERS_PER_CALLER", 20, minimum=1
        )
        self.JOB_EVENTS_RECHECK_SECONDS = env.float("JOB_EVENTS_RECHECK_SECONDS", 5.0)
        self.SSE_MAX_SECONDS = env.int("SSE_MAX_SECONDS", 300, minimum=1)
        self.SSE_HEARTBEAT_SECONDS = env.int("SSE_HEARTBEAT_SECONDS", 15, minimum=1)
        self.SSE_RETRY_MILLISECONDS = env.int("SSE_RETRY_MILLISECONDS", 2000, minimum=100)
        self.IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)

        self.RATELIMIT_ENABLED = env.bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_DEFAULT = env.str("RATELIMIT_DEFAULT", "100 per hour")
        self.RATELIMIT_INQUIRY = env.str("RATELIMIT_INQUIRY", "10 per hour")
        self.RATELIMIT_JOB_POLL = env.str("RATELIMIT_JOB_POLL", "1200 per hour")
        self.RATELIMIT_PUBLIC_READ = env.str("RATELIMIT_PUBLIC_READ", "3000 per hour")
        self.RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", "10 per minute;30 per hour")
        self.RATELIMIT_REGISTER = env.str("RATELIMIT_REGISTER", "5 per hour")
        self.RATELIMIT_ACCOUNT_EMAIL = env.str("RATELIMIT_ACCOUNT_EMAIL", "5 per hour")
        self.RATELIMIT_ITINERARY = env.str("RATELIMIT_ITINERARY", "10 per hour")
        self.RATELIMIT_CHAT = env.str("RATELIMIT_CHAT", "10 per minute;200 per day")
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        # A hung Redis must fail the limit check quickly (the limiter then falls back to memory).
        self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
        self.TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0)

        # The response cache (and other rebuildable state); without Redis a folder, so every
        # web and worker process on the machine shares it. Socket timeouts: a hung Redis is a
        # quick 503, never a hung request.
        self.CACHE_TYPE = "RedisCache" if self.CACHE_REDIS_URL else "FileSystemCache"
        if self.CACHE_REDIS_URL:
            self.CACHE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
        self.CACHE_DIR = str(data_dir / "cache")
        self.CACHE_KEY_PREFIX = "cache:"
        self.CACHE_DEFAULT_TIMEOUT = 300
        self.RESPONSE_CACHE_SECONDS = env.int("RESPONSE_CACHE_SECONDS", 300)
        self.RESPONSE_NEAR_CACHE_ENTRIES = env.int("RESPONSE_NEAR_CACHE_ENTRIES", 256, minimum=0)
        self.CACHE_WARM_INTERVAL_SECONDS = env.int("CACHE_WARM_INTERVAL_SECONDS", 240, minimum=1)
        self.VIEW_FLUSH_INTERVAL_SECONDS = env.int("VIEW_FLUSH_INTERVAL_SECONDS", 60, minimum=1)
        self.VIEW_SEND_SECONDS = max(0.05, env.float("VIEW_SEND_SECONDS", 1.0))
        self.VIEW_BUFFER_MAX = env.int("VIEW_BUFFER_MAX", 1000, minimum=1)
        self.REVIEWS_REQUIRE_MODERATION = env.bool("REVIEWS_REQUIRE_MODERATION", False)
        self.HTTP_CACHE_MAX_AGE = env.int("HTTP_CACHE_MAX_AGE", 60)

        self.CORS_ORIGINS = env.list(
            "CORS_ORIGINS", "http://localhost:3000,http://localhost:5173,http://localhost:8000"
        )
        self.FRONTEND_URL = env.str("FRONTEND_URL", "http://localhost:3000")
        self.MAX_CONTENT_LENGTH = env.int("MAX_CONTENT_LENGTH", 60 * 1024 * 1024, minimum=1024)
        self.MAX_JSON_BYTES = env.int("MAX_JSON_BYTES", 1024 * 1024, minimum=1024)

        self.STORAGE_PROVIDER = env.str("STORAGE_PROVIDER", "local").lower()
        self.UPLOAD_DIR = env.str("UPLOAD_DIR", str(data_dir / "uploads"))
        self.MEDIA_URL_PREFIX = env.str("MEDIA_URL_PREFIX", "/media")
        self.MEDIA_MAX_IMAGE_BYTES = env.int("MEDIA_MAX_IMAGE_BYTES", 5 * 1024 * 1024, minimum=1)
        self.MEDIA_MAX_VIDEO_BYTES = env.int("MEDIA_MAX_VIDEO_BYTES", 50 * 1024 * 1024, minimum=1)
        self.MEDIA_MAX_PIXELS = env.int("MEDIA_MAX_PIXELS", 40_000_000, minimum=1)
        self.MEDIA_MAX_FRAMES = env.int("MEDIA_MAX_FRAMES", 500, minimum=1)
        self.MEDIA_MAX_TOTAL_PIXELS = env.int(
            "MEDIA_MAX_TOTAL_PIXELS", 2 * self.MEDIA_MAX_PIXELS, minimum=1
        )
        self.CLOUDINARY_URL = env.str("CLOUDINARY_URL", "")
        self.CLOUDINARY_CLOUD_NAME = env.str("CLOUDINARY_CLOUD_NAME", "")
        self.CLOUDINARY_API_KEY = env.str("CLOUDINARY_API_KEY", "")
        self.CLOUDINARY_API_SECRET = env.str("CLOUDINARY_API_SECRET", "")
        self.CLOUDINARY_UPLOAD_PREFIX = env.str("CLOUDINARY_UPLOAD_PREFIX", "")
        self.CLOUDINARY_FOLDER = env.str("CLOUDINARY_FOLDER", "baliblissed")
        self.COMPANY_TARGET_EMAIL = env.str("COMPANY_TARGET_EMAIL", "hello@baliblissed.com")
        self.EMAIL_FROM = env.str("EMAIL_FROM", "BaliBlissed <no-reply@baliblissed.com>")
        self.EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", "outbox").lower()
        self.EMAIL_OUTBOX_DIR = env.str("EMAIL_OUTBOX_DIR", str(data_dir / "outbox"))
        self.SMTP_HOST = env.str("SMTP_HOST", "localhost")
        self.SMTP_PORT = env.int("SMTP_PORT", 587, minimum=1)
        self.SMTP_USERNAME = env.str("SMTP_USERNAME", "")
        self.SMTP_PASSWORD = env.str("SMTP_PASSWORD", "")
        self.SMTP_USE_TLS = env.bool("SMTP_USE_TLS", True)
        self.SMTP_TIMEOUT_SECONDS = env.int("SMTP_TIMEOUT_SECONDS", 20, minimum=1)
        self.GMAIL_TOKEN_FILE = env.str("GMAIL_TOKEN_FILE", "secrets/gmail-token.json")
        self.GMAIL_API_ENDPOINT = env.str("GMAIL_API_ENDPOINT", "https://gmail.googleapis.com")
        self.GMAIL_TOKEN_URI = env.str("GMAIL_TOKEN_URI", "https://oauth2.googleapis.com/token")
        self.WHATSAPP_NUMBER = env.str("WHATSAPP_NUMBER", "+6285847006743")

        self.OPENAPI_VERSION = "3.1.0"
        self.API_TITLE = "BaliBlissed API"
        self.API_VERSION = "v1"
        self.OPENAPI_URL_PREFIX = "/"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.OPENAPI_SWAGGER_UI_PATH = "docs"
        # Served by the app itself (api/docs), never by a CDN: the docs work offline.
        self.OPENAPI_SWAGGER_UI_URL = "/docs/assets/swagger-ui/"
        self.OPENAPI_REDOC_PATH = "redoc"
        self.OPENAPI_REDOC_URL = "/docs/assets/redoc/redoc.standalone.js"

        self.CELERY = self._celery_settings()

        self.JWT_ACCESS_TOKEN_EXPIRES = self.ACCESS_TOKEN_EXPIRE_MINUTES * 60
        self.JWT_REFRESH_TOKEN_EXPIRES = self.REFRESH_TOKEN_EXPIRE_DAYS * 86400
        self.JWT_ALGORITHM = "HS256"
        self.JWT_DECODE_ALGORITHMS = ["HS256"]
        # Every token names who issued it and for whom, and both are required on the way in:
        # a token this key signed for another purpose or service is not a session here.
        self.JWT_ENCODE_ISSUER = self.JWT_DECODE_ISSUER = JWT_ISSUER
        self.JWT_ENCODE_AUDIENCE = self.JWT_DECODE_AUDIENCE = JWT_AUDIENCE

    def _engine_options(self) -> dict[str, object]:
        if self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            return {"connect_args": {"timeout": 30}, "hide_parameters": True}
        return {
            "pool_size": self.DATABASE_POOL_SIZE,
            "max_overflow": self.DATABASE_POOL_SIZE,
            # No ping per checkout (a round trip on every hot path): connections idle longer
            # than DATABASE_IDLE_PING_SECONDS are pinged instead (api.database).
            "pool_pre_ping": False,
            "pool_timeout": 5,  # a request waits this long for a connection, then 503
            # Errors never log bound values (emails, password hashes, webhook secrets).
            "hide_parameters": True,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5},
        }

    def _celery_settings(self) -> dict[str, Any]:
        """Celery's settings (Flask's pattern: a CELERY mapping for `config_from_object`).

        Queues, routes and beat's schedule are made from the code's tables when the Celery app
        is built (`workers/app.py`)."""
        return {
            "broker_url": self.CELERY_BROKER_URL,
            "broker_connection_retry_on_startup": True,
            "broker_connection_timeout": 3,
            "broker_transport": broker_transport(self.CELERY_BROKER_URL),
            "broker_transport_options": broker_transport_options(
                self.CELERY_BROKER_URL, self.BROKER_VISIBILITY_TIMEOUT_SECONDS
            ),
            # A failed publish is answered quickly; the job stays queued for the sweeper.
            "task_publish_retry_policy": {
                "max_retries": 2,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
            "task_ignore_result": True,
            "result_backend": None,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # Messages each pool process has reserved: 1 keeps a short job from waiting behind a
            # long one (an itinerary's Gemini call) on the same worker while others sit idle.
            "worker_prefetch_multiplier": self.CELERY_WORKER_PREFETCH_MULTIPLIER,
            # No task has a rate limit: skip Celery's per-message token-bucket bookkeeping.
            "worker_disable_rate_limits": True,
            "worker_concurrency": self.CELERY_WORKER_CONCURRENCY,
            "task_soft_time_limit": 120,
            "task_time_limit": 150,
            # Task events cost a broker message per task state: off unless Flower watches
            # (it switches them on in the workers while it runs; see Operating).
            "worker_send_task_events": self.CELERY_TASK_EVENTS,
            # Workers keep the app's logging (api.logs: structured, redacted), not Celery's own.
            "worker_hijack_root_logger": False,
            "timezone": "UTC",
            "enable_utc": True,
            "beat_scheduler": "workers.app:Scheduler",
            "beat_schedule_filename": self.BEAT_SCHEDULE_FILE,
        }

    @property
    def connections_per_process(self) -> int | None:
        """The most connections one process's pool opens (pool_size + max_overflow); None on
        SQLite, where no server counts them."""
        pool_size = self.SQLALCHEMY_ENGINE_OPTIONS.get("pool_size")
        overflow = self.SQLALCHEMY_ENGINE_OPTIONS.get("max_overflow")
        if not isinstance(pool_size, int) or not isinstance(overflow, int):
            return None
        return pool_size + overflow

    @property
    def uses_sqlite(self) -> bool:
        return self.SQLALCHEMY_DATABASE_URI.startswith("sqlite")

    def check(self) -> None:
        """Refuse settings that cannot work; production adds stricter rules."""
        public_key = DEVELOPMENT_SECRET_KEY in (self.SECRET_KEY, self.JWT_SECRET_KEY)
        if public_key and not self.TESTING and self.HOST not in LOOPBACK_HOSTS:
            # The development key is in this repository: anyone could sign an admin's token.
            raise ConfigError(
                f"Refusing to serve on {self.HOST} with the development SECRET_KEY, which is "
                "public: set SECRET_KEY (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'), or bind to loopback (HOST=127.0.0.1)"
            )
        if self.PASSWORD_SECURITY_LEVEL not in PASSWORD_LEVELS:
            raise ConfigError(
                f"PASSWORD_SECURITY_LEVEL must be one of {', '.join(PASSWORD_LEVELS)}, "
                f"got {self.PASSWORD_SECURITY_LEVEL!r}"
            )
        if self.STORAGE_PROVIDER not in {"local", "cloudinary"}:
            raise ConfigError(
                f"STORAGE_PROVIDER must be local or cloudinary, got {self.STORAGE_PROVIDER!r}"
            )
        if self.STORAGE_PROVIDER == "cloudinary" and not (
            self.CLOUDINARY_URL or (self.CLOUDINARY_CLOUD_NAME and self.CLOUDINARY_API_SECRET)
        ):
            raise ConfigError(
                "STORAGE_PROVIDER=cloudinary needs CLOUDINARY_URL or CLOUDINARY_CLOUD_NAME, "
                "CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET"
            )
        if self.LOG_FORMAT not in {"json", "console"}:
            raise ConfigError(f"LOG_FORMAT must be json or console, got {self.LOG_FORMAT!r}")
        if self.EMAIL_PROVIDER not in {"outbox", "smtp", "gmail"}:
            raise ConfigError(
                f"EMAIL_PROVIDER must be outbox, smtp or gmail, got {self.EMAIL_PROVIDER!r}"
            )


class DevelopmentConfig(BaseConfig):
    APP_ENV = "development"


class TestingConfig(BaseConfig):
    APP_ENV = "testing"
    TESTING = True
    DEFAULT_PASSWORD_LEVEL = "development"


class ProductionConfig(BaseConfig):
    APP_ENV = "production"
    DEFAULT_LOG_FORMAT = "json"

    def check(self) -> None:
        super().check()
        problems = []
        if len(self.SECRET_KEY) < MIN_PRODUCTION_SECRET_LENGTH or (
            self.SECRET_KEY == DEVELOPMENT_SECRET_KEY
        ):
            problems.append(
                f"SECRET_KEY must be a random value of at least {MIN_PRODUCTION_SECRET_LENGTH} "
                "characters (generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if len(self.JWT_SECRET_KEY) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET_KEY must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters"
            )
        if not self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            problems.append("DATABASE_URL must point to PostgreSQL (postgresql://...)")
        if not self.REDIS_URL:
            problems.append("REDIS_URL must point to Redis (redis://...)")
        if self.PASSWORD_SECURITY_LEVEL == "development":
            problems.append("PASSWORD_SECURITY_LEVEL=development is too weak for production")
        if len(self.METRICS_TOKEN) < MIN_METRICS_TOKEN_LENGTH:
            problems.append(
                f"METRICS_TOKEN must be set (at least {MIN_METRICS_TOKEN_LENGTH} characters): "
                "it guards /metrics and the detailed /health"
            )
        if problems:
            raise ConfigError("Refusing to start in production:\n  - " + "\n  - ".join(problems))


CONFIG_CLASSES: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(environ: Mapping[str, str] | None = None) -> BaseConfig:
    """Pick the settings class named by APP_ENV and check the result."""
    environ = os.environ if environ is None else environ
    app_env = Env(environ).str("APP_ENV", "development").lower()
    if app_env not in CONFIG_CLASSES:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIG_CLASSES)}, got {app_env!r}")
    config = CONFIG_CLASSES[app_env](environ)
    config.check()
    return config
