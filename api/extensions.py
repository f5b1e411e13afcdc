"""Extension singletons, bound to the app in `create_app()` (Flask's app-factory pattern).

Outside services are typed singletons too (as superset's extensions module has them): each
`AppService` is declared here and given its configured provider by `init_app`, so callers write
`email_sender.current.send(...)` and the type checker knows what they get. The instance lives
on the app (`app.extensions`), so several apps in one process (the tests) never share one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import Flask, current_app
from flask_caching import Cache
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from api.errors import ProblemApi
from api.models import Base

if TYPE_CHECKING:
    import redis
    from celery import Celery

    from api.integrations.email import EmailSender
    from api.integrations.gemini import GeminiModel, Guard
    from api.integrations.oauth import OAuthProvider
    from api.integrations.security_store import SecurityStore
    from api.integrations.storage import MediaStorage

T = TypeVar("T")


class AppService(Generic[T]):
    """An app-bound service reached through a typed attribute."""

    def __init__(self, key: str) -> None:
        self.key = key

    def init_app(self, app: Flask, instance: T) -> None:
        app.extensions[self.key] = instance

    @property
    def current(self) -> T:
        """The instance of the app handling this request or task."""
        instance: T = current_app.extensions[self.key]
        return instance


# Rows are not reloaded after commit: answering with what was just written costs no SELECT.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
# Every model's base: flask-sqlalchemy's model class, which type checkers see as our Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
api = ProblemApi()
jwt = JWTManager()
cache = Cache()

celery_app: AppService[Celery[Any]] = AppService("celery")
redis_client: AppService[redis.Redis | None] = AppService("redis")  # None without REDIS_URL
security_store: AppService[SecurityStore] = AppService("security_store")
email_sender: AppService[EmailSender] = AppService("email_sender")
media_storage: AppService[MediaStorage] = AppService("media_storage")
ai_model: AppService[GeminiModel | None] = AppService("ai_model")  # None: local answers
ai_guard: AppService[Guard] = AppService("ai_guard")
oauth_providers: AppService[dict[str, OAuthProvider]] = AppService("oauth_providers")
