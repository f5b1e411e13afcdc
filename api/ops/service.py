"""Health checks for operators and orchestrators."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import text

from api import ratelimits
from api.blog.models import Post
from api.database import count_by
from api.extensions import celery_app, db, redis_client
from api.inquiries.models import Inquiry
from api.jobs import service as jobs
from api.reviews.models import Review
from api.users import service as users

OK, DOWN, NOT_CONFIGURED, UNKNOWN = "ok", "down", "not_configured", "unknown"
WORKER_PING_TIMEOUT_SECONDS = 1.0


def _timed(check: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status = check()
        detail = None
    except Exception as exc:  # any failure of a dependency is a "down" answer, not a 500
        status, detail = DOWN, type(exc).__name__
    report: dict[str, Any] = {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if detail:
        report["error"] = detail
    return report


def _database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        db.session.rollback()
    return OK


def _redis() -> str:
    client = redis_client.current
    if client is None:
        return NOT_CONFIGURED
    client.ping()
    return OK


def _broker() -> str:
    with celery_app.current.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return OK


def _workers() -> str:
    celery = celery_app.current
    with celery.connection_for_read() as connection:
        if "fanout" not in connection.transport.implements.exchange_type:
            return UNKNOWN  # the SQLite broker cannot broadcast a ping
    replies = celery.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS, limit=1)
    return OK if replies else DOWN


def database_ready() -> bool:
    return _timed(_database)["status"] == OK


def health() -> tuple[dict[str, Any], int]:
    """`ok` when all is well, `degraded` when something besides the database is down,
    `down` (503) when the database is unreachable."""
    checks = {
        "database": _timed(_database),
        "redis": _timed(_redis),
        "broker": _timed(_broker),
        "workers": _timed(_workers),
    }
    if checks["database"]["status"] == DOWN:
        return {"status": "down", "checks": checks}, 503
    degraded = any(check["status"] == DOWN for check in checks.values())
    return {"status": "degraded" if degraded else "ok", "checks": checks}, 200


def rate_limit_status() -> dict[str, Any]:
    limiter = ratelimits.current()
    return {
        "storage": "redis" if "redis" in type(limiter.storage).__name__.lower() else "memory",
        "healthy": limiter.healthy(),
        "default_limit": current_app.config["RATELIMIT_DEFAULT"],
    }


def stats() -> dict[str, Any]:
    jobs_by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in jobs.counts_by_kind_and_status():
        jobs_by_kind.setdefault(kind, {})[status] = count
    return {
        "users": users.counts(),
        "jobs": jobs_by_kind,
        "content": {
            "inquiries": count_by(Inquiry.status),
            "posts": count_by(Post.status),
            "reviews": count_by(Review.status),
        },
    }
