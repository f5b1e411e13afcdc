"""Rate limits whose values come from settings, and their 429 answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app
from flask_limiter.errors import RateLimitExceeded

from api.errors import problem
from api.extensions import limiter


def limit_from_setting(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@limit_from_setting("RATELIMIT_INQUIRY")`: the limit named by that setting."""
    return limiter.limit(lambda: current_app.config[setting])


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
