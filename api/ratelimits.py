"""Rate limits whose values come from settings, and their 429 answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Flask, Response, current_app
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from api.errors import ApiError, problem
from api.extensions import limiter

log = logging.getLogger(__name__)


def limit_from_setting(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@limit_from_setting("RATELIMIT_INQUIRY")`: the limit named by that setting."""
    return limiter.limit(lambda: current_app.config[setting])


@cache
def _limits(value: str) -> list[RateLimitItem]:
    return parse_many(value)


def charge(setting: str) -> None:
    """Count this request against the limit named by `setting`, for work done only sometimes
    (a cache miss), when a per-request check would cost as much as the work it guards."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    address = get_remote_address()
    for item in _limits(current_app.config[setting]):
        try:
            allowed = limiter.limiter.hit(item, "charge", setting, address)
        except Exception:  # storage down: fail open, the per-request limits still apply
            log.warning("rate limit storage unavailable for %s", setting, exc_info=True)
            return
        if not allowed:
            retry_after = max(1, int(item.get_expiry()))
            raise ApiError(
                f"Too many requests ({item}). Try again in {retry_after} seconds.",
                code="rate_limited",
                status=429,
                headers={"Retry-After": str(retry_after)},
            )


def _rate_limited(error: RateLimitExceeded) -> Response:
    current = limiter.current_limit
    retry_after = max(1, int(current.reset_at - time.time())) if current else 60
    return problem(
        429,
        "rate_limited",
        f"Too many requests ({error.description}). Try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def init_app(app: Flask) -> None:
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
