"""Rate limits whose values come from settings, and their 429 answer.

Built directly on the `limits` library (fixed windows, Redis or memory): a route's limits are
resolved once per endpoint, so a request pays one storage round trip per limit it is under and
nothing at all on an exempt route (probes, cached reads, media files). Routes without their own
limit get RATELIMIT_DEFAULT. A signed-in caller is counted by user (each person in an office
behind one NAT has their own budget, and one person moving between networks keeps one), an
anonymous one by client address (`request.remote_addr`, from X-Forwarded-For only through
TRUSTED_PROXY_COUNT proxies). A token that cannot be verified is counted by address; the view
then refuses it as usual. When the storage cannot answer, counting falls back to this
process's memory (a limit is never skipped).

Large limits are counted in batches: a process adds up to 1% of a limit locally before it
sends the sum to Redis (one round trip per batch, not per request), so a limit of 1,200 an hour
costs a Redis call every 12 polls and may be overshot by at most 1% per web process; limits
under 200 are counted exactly, request by request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api.errors import ApiError
from api.security import current_caller
from api.telemetry import RATE_LIMITED

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
LIMIT_SETTING = "_rate_limit_setting"  # attribute on a view: the setting naming its limit
EXEMPT = "_rate_limit_exempt"


def limit_from_setting(setting: str) -> Callable[[F], F]:
    """`@limit_from_setting("RATELIMIT_INQUIRY")`: this route's limit is that setting's."""

    def mark(view: F) -> F:
        setattr(view, LIMIT_SETTING, setting)
        return view

    return mark


def exempt(view: F) -> F:
    """No limit on this route (probes, cache hits: cheaper than the check would be)."""
    setattr(view, EXEMPT, True)
    return view


@cache
def _limits(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value))


BATCH_FRACTION = 100  # a batch is at most 1/100 of the limit
MAX_LOCAL_COUNTERS = 10_000  # past this, every local count is flushed and forgotten


@dataclass
class LocalCount:
    pending: int = 0  # hits counted here and not yet sent
    known: int = 0  # the shared count at the last flush
    window_ends: float = 0.0


class RateLimiter:
    """The app's limiter: storage, strategy and the per-endpoint table of limits."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        uri = config["RATELIMIT_STORAGE_URI"]
        options = config["RATELIMIT_STORAGE_OPTIONS"] if uri.startswith("redis") else {}
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, Storage)  # a synchronous storage: not an asyncio one
        self.storage = storage
        self.fallback = MemoryStorage()
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.fallback_strategy = FixedWindowRateLimiter(self.fallback)
        self._local: dict[str, LocalCount] = {}
        self._lock = threading.Lock()
        self._settings: dict[str, str | None] = {}

    def setting_for(self, endpoint: str) -> str | None:
        """The setting naming this endpoint's limit, or None when it is exempt."""
        if endpoint not in self._settings:
            view = current_app.view_functions.get(endpoint)
            if view is None or getattr(view, EXEMPT, False):
                self._settings[endpoint] = None
            else:
                self._settings[endpoint] = getattr(view, LIMIT_SETTING, "RATELIMIT_DEFAULT")
        return self._settings[endpoint]

    def hit(self, setting: str, scope: str, caller: str) -> None:
        """Count one request against the setting's limits (429 when one is exhausted)."""
        for item in _limits(current_app.config[setting]):
            retry_after = self._count(item, scope, caller)
            if retry_after is not None:
                RATE_LIMITED.labels(request.url_rule.rule if request.url_rule else scope).inc()
                raise ApiError(
                    f"Too many requests ({item}). Try again in {retry_after} seconds.",
                    code="rate_limited",
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )

    def _count(self, item: RateLimitItem, scope: str, caller: str) -> int | None:
        """Count one hit; None when allowed, else the seconds until the window resets."""
        batch = item.amount // BATCH_FRACTION
        if batch <= 1:
            return self._send(item, scope, caller, 1)
        key = item.key_for(scope, caller)
        now = time.time()
        with self._lock:
            local = self._local.get(key)
            if local is None or now >= local.window_ends:
                if len(self._local) >= MAX_LOCAL_COUNTERS:
                    self._flush_all()
                local = self._local[key] = LocalCount(window_ends=now + item.get_expiry())
            local.pending += 1
            if local.pending < batch and local.known + local.pending <= item.amount:
                return None  # within the batch, and the window is not full
            pending, local.pending = local.pending, 0
        total = self._add(item, key, pending)
        with self._lock:
            local.known = total
        return None if total <= item.amount else self._retry_after(item, scope, caller)

    def _add(self, item: RateLimitItem, key: str, amount: int) -> int:
        try:
            return int(self.storage.incr(key, item.get_expiry(), amount=amount))
        except Exception:  # storage down: count in memory rather than not at all
            log.warning("rate limit storage unavailable; counting in memory", exc_info=True)
            return int(self.fallback.incr(key, item.get_expiry(), amount=amount))

    def _send(self, item: RateLimitItem, scope: str, caller: str, amount: int) -> int | None:
        total = self._add(item, item.key_for(scope, caller), amount)
        return None if total <= item.amount else self._retry_after(item, scope, caller)

    def _retry_after(self, item: RateLimitItem, scope: str, caller: str) -> int:
        try:
            reset = self.strategy.get_window_stats(item, scope, caller).reset_time
        except Exception:
            reset = self.fallback_strategy.get_window_stats(item, scope, caller).reset_time
        return max(1, int(reset - time.time()))

    def _flush_all(self) -> None:
        """Send every pending count and forget the local counters (bounded memory)."""
        for key, local in self._local.items():
            if local.pending:
                with suppress(Exception):
                    self.storage.incr(
                        key, max(1, int(local.window_ends - time.time())), amount=local.pending
                    )
        self._local.clear()

    def healthy(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:
            return False


def current() -> RateLimiter:
    limiter: RateLimiter = current_app.extensions["rate_limiter"]
    return limiter


def client_key() -> str:
    """Whom a request is counted against: `user:<id>` when signed in, else `ip:<address>`."""
    try:
        return current_caller().scope  # verified once per request, shared with the view
    except Exception:  # a bad, expired or revoked token, or the store down: the view says so
        return f"ip:{request.remote_addr or 'unknown'}"


def charge(setting: str) -> None:
    """Count this request against the limit named by `setting`, for work done only sometimes
    (a cache miss), when a per-request check would cost as much as the work it guards."""
    if current_app.config["RATELIMIT_ENABLED"]:
        current().hit(setting, f"charge:{setting}", client_key())


def _check_request() -> None:
    endpoint = request.endpoint
    if endpoint is None:  # 404 and 405 cost nothing to answer
        return
    setting = current().setting_for(endpoint)
    if setting is not None:
        current().hit(setting, endpoint, client_key())


def init_app(app: Flask) -> None:
    app.extensions["rate_limiter"] = RateLimiter(app)
    if app.config["RATELIMIT_ENABLED"]:
        app.before_request(_check_request)
