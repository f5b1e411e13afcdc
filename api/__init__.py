"""The BaliBlissed Flask application."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from api import (
    bounds,
    cli,
    compression,
    cors,
    database,
    docs,
    edge,
    errors,
    logs,
    observability,
    ratelimits,
    response_cache,
    security,
)
from api.auth.routes import blp as auth_blp
from api.blog.routes import blp as blog_blp
from api.catalogue.routes import blp as catalogue_blp
from api.chat.routes import blp as chat_blp
from api.extensions import (
    ai_guard,
    ai_model,
    api,
    cache,
    db,
    email_sender,
    media_storage,
    migrate,
    oauth_providers,
    redis_client,
    security_store,
)
from api.feeds.routes import blp as feeds_blp
from api.inquiries.routes import blp as inquiries_blp
from api.integrations.email import create_sender
from api.integrations.gemini import Guard, create_model
from api.integrations.oauth import configured_providers
from api.integrations.security_store import create_security_store
from api.integrations.storage import create_storage
from api.itineraries.routes import blp as itineraries_blp
from api.jobs.routes import blp as jobs_blp
from api.jobs.routes import webhooks_blp
from api.media.routes import blp as media_blp
from api.ops import metrics
from api.ops.routes import CONSTANT_ANSWERS
from api.ops.routes import blp as ops_blp
from api.responses import ApiResponse
from api.reviews.routes import blp as reviews_blp
from api.users.routes import blp as users_blp
from config import PROJECT_ROOT, load_config
from workers.app import celery_init_app


class NoCookieSessions(SessionInterface):
    """The API keeps no state in cookies (tokens travel in headers): never parse or sign one."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class BaliBlissed(Flask):
    """Flask, minus per-request work this app never needs."""

    session_interface = NoCookieSessions()
    response_class = ApiResponse

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # No view or hook is a coroutine: skip the inspection Flask makes before every call.
        return func


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `environ` (default: the process environment)."""
    config = load_config(environ)
    logs.configure(config.LOG_LEVEL, config.LOG_FORMAT)

    app = BaliBlissed(__name__, static_folder=None)
    app.config.from_object(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if config.TRUSTED_PROXY_COUNT:
        count = config.TRUSTED_PROXY_COUNT
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    _init_database(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    cache.init_app(app)
    response_cache.init_app(app)
    redis_client.init_app(
        app,
        redis.Redis.from_url(config.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
        if config.REDIS_URL
        else None,
    )
    security_store.init_app(app, create_security_store(app.config))
    email_sender.init_app(app, create_sender(app.config))
    oauth_providers.init_app(app, configured_providers(app.config))
    media_storage.init_app(app, create_storage(app.config))
    ai_model.init_app(app, create_model(app.config))
    ai_guard.init_app(app, Guard(cache, app.config))
    celery_init_app(app)

    # Request hooks, in the order they run before the view (after it: in reverse).
    logs.init_app(app)
    observability.init_app(app)
    cors.init_app(app)
    metrics.init_app(app)
    edge.init_app(app)  # first in, last out: the id, headers, metrics and log of every answer
    bounds.init_app(app)
    ratelimits.init_app(app)
    security.init_app(app)
    docs.init_app(app)  # before api.init_app: its templates replace flask-smorest's pages
    api.init_app(app)
    errors.init_app(app)
    _register_blueprints(app)
    cli.init_app(app)
    compression.init_app(app)  # runs right after the commit hook, on the final body
    database.init_app(app)  # last: its commit hook must run before the other after_request hooks
    # Outermost: a probe is answered before the proxy fix and the request context.
    app.wsgi_app = edge.ConstantAnswers(app, app.wsgi_app, CONSTANT_ANSWERS)  # type: ignore[method-assign]
    return app


def _init_database(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        deadline = database.bound_database_calls(
            db.engine, app.config["DATABASE_CALL_TIMEOUT_SECONDS"]
        )
        database.ping_idle_connections(
            db.engine, app.config["DATABASE_IDLE_PING_SECONDS"], deadline
        )
        app.extensions["database_call_deadline"] = deadline
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        with app.app_context():
            event.listen(db.engine, "connect", _tune_sqlite)


def _tune_sqlite(dbapi_connection: object, _record: object) -> None:
    """WAL lets the API read while a worker writes; foreign keys are off by default."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _register_blueprints(app: Flask) -> None:
    for blueprint in (
        ops_blp,
        auth_blp,
        users_blp,
        jobs_blp,
        webhooks_blp,
        inquiries_blp,
        catalogue_blp,
        itineraries_blp,
        chat_blp,
        media_blp,
        blog_blp,
        reviews_blp,
        feeds_blp,
    ):
        api.register_blueprint(blueprint)
