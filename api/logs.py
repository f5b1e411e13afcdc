"""Structured logs for every process (web, workers, beat): one JSON object per line
(LOG_FORMAT=json, production's default) or one human line (LOG_FORMAT=console, what `make run`
shows), for every logger: the app's, Celery's, SQLAlchemy's.

Context is bound with contextvars and appears on every line logged while it holds: a request's
id and user; a job attempt's id, kind, attempt and the request id of the request that submitted
it. Redaction (`api.redaction`) runs over the whole rendered line, traceback included, so no
logger can leak a password, token, email, phone number or client address in clear.

One line per request (`request`: method, route, status, duration_ms, request_id, user_id) and
one per job transition (`job.*`, from `api.jobs.lifecycle`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from flask import Flask, Response, g, request

from api import redaction

log = structlog.get_logger("api.requests")

EventDict = MutableMapping[str, Any]


def _redacted(renderer: Callable[..., Any]) -> Callable[[Any, str, EventDict], str]:
    def render(logger: Any, name: str, event: EventDict) -> str:
        return redaction.redact(str(renderer(logger, name, event)))

    return render


def configure(level: str, log_format: str) -> None:
    """Route every logger through structlog's formatter on one stderr handler."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redacted(renderer),
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bound_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


def _start_request() -> None:
    g.log_started = time.perf_counter()
    structlog.contextvars.clear_contextvars()  # the request id is bound next (observability)


def _log_request(response: Response) -> Response:
    if log.isEnabledFor(logging.INFO):
        started = g.get("log_started")
        caller = g.get("caller")
        log.info(
            "request",
            method=request.method,
            route=request.url_rule.rule if request.url_rule else None,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
            user_id=str(caller.user_id) if caller is not None and caller.user_id else None,
        )
    return response


def _end_request(_error: BaseException | None) -> None:
    structlog.contextvars.clear_contextvars()


def init_app(app: Flask) -> None:
    """Call before any other hook is registered: its after_request then runs after all the
    others (Flask runs them in reverse) and logs the final status."""
    app.before_request(_start_request)
    app.after_request(_log_request)
    app.teardown_request(_end_request)
