"""Rate limits whose values come from settings, so operators tune them without code changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from api.extensions import limiter


def limit_from_setting(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@limit_from_setting("RATELIMIT_INQUIRY")`: the limit named by that setting."""
    return limiter.limit(lambda: current_app.config[setting])
