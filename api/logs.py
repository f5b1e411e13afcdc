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
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from flask import Flask

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


def start_request(request_id: str) -> None:
    """A request's lines carry its id, and nothing bound by an earlier one (called by
    `api.edge`); so does every job it submits."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def log_request(
    method: str, route: str | None, status: int, seconds: float, caller: Any | None
) -> None:
    """The request's one line (called by `api.edge` once the answer is final)."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            user_id=str(caller.user_id) if caller is not None and caller.user_id else None,
        )


def log_constant_answer(request_id: str, route: str, seconds: float) -> None:
    """The line of an answer given before the app (`api.edge.ConstantAnswers`)."""
    if log.isEnabledFor(logging.INFO):
        start_request(request_id)
        log_request("GET", route, 200, seconds, None)
        structlog.contextvars.clear_contextvars()


def _end_request(_error: BaseException | None) -> None:
    structlog.contextvars.clear_contextvars()


def init_app(app: Flask) -> None:
    """Nothing of this request is bound once it ends (the request's own hooks are api.edge)."""
    app.teardown_request(_end_request)
