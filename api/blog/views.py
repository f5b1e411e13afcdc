"""Post view counts: one per visitor (user, or client address when anonymous) per post per clock
hour, counted in Redis and added to the database by a beat task, so a read never costs an UPDATE.

The visitors of a post in an hour are a HyperLogLog (at most 12 KB, whatever the number of
visitors, ~1% error) that expires after two hours: memory is bounded by the posts read, not by
the visitors or anything they send (the User-Agent used to be part of the key). Without Redis
(the embedded mode) each first view of the hour updates the row directly.

A read does not wait for Redis to count its view: the process keeps the views it served
(`PendingViews`, at most VIEW_BUFFER_MAX) and sends them in one pipeline every
VIEW_SEND_SECONDS from a background thread (at once when the buffer is full, and before the
flush task reads the counts), so a post answered from the near cache costs no round trip at
all. A view the process already took this hour (same visitor, same post) is not kept again:
Redis would not count it, and a visitor who reloads, or a client that polls a post, cost a
script call per read. A process killed outright loses the views of its last VIEW_SEND_SECONDS."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from typing import Any

import redis
from flask import current_app
from sqlalchemy import update

from api import response_cache
from api.blog.models import Post
from api.database import on_commit
from api.extensions import cache, db
from api.security import Caller

log = logging.getLogger(__name__)

PENDING = "post-views:pending"
DEDUPE_SECONDS = 3600
COUNT_ONCE = """
if redis.call('PFADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def visitor(caller: Caller) -> str:
    """A visitor: the user, or the client address (never anything else the client sends)."""
    if caller.user_id:
        return f"u{caller.user_id.hex}"
    return "a" + hashlib.sha256(caller.address.encode()).hexdigest()[:24]


def _client() -> Any:
    """The Redis the views are counted in: the response cache's. None in the embedded mode."""
    backend = response_cache.redis_backend()
    return None if backend is None else backend._write_client


COUNT_ONCE_SHA = hashlib.sha1(COUNT_ONCE.encode()).hexdigest()
View = tuple[str, str, str]  # the hour's HyperLogLog key, the visitor, the slug
TAKEN_MAX = 50_000  # views remembered as taken this hour, per process (then forgotten)


class PendingViews:
    """The views this process served and has not sent to Redis yet."""

    def __init__(self, client: Any, seconds: float, limit: int) -> None:
        self.client = client
        self.seconds = seconds
        self.limit = limit
        self._views: list[View] = []
        self._taken: set[View] = set()  # this hour's views already kept or sent
        self._hour: int | None = None
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._closed = threading.Event()

    def add(self, view: View, hour: int) -> None:
        with self._lock:
            if hour != self._hour or len(self._taken) >= TAKEN_MAX:
                self._taken.clear()  # a new hour (or too many visitors to remember)
                self._hour = hour
            if view in self._taken:
                return
            self._taken.add(view)
            self._views.append(view)
            full = len(self._views) >= self.limit
            if self._pid != os.getpid():  # the first view here (or in a forked child)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="post-views", daemon=True).start()
        if full:
            self.send()

    def send(self) -> int:
        """Count the pending views in Redis (one pipeline); how many were sent."""
        with self._lock:
            views, self._views = self._views, []
        if not views:
            return 0
        for attempt in range(2):
            pipeline = self.client.pipeline(transaction=False)
            for seen_key, who, slug in views:
                pipeline.evalsha(
                    COUNT_ONCE_SHA, 2, seen_key, PENDING, who, slug, 2 * DEDUPE_SECONDS
                )
            try:
                pipeline.execute()
                return len(views)
            except redis.exceptions.NoScriptError:  # first use since Redis started
                if attempt == 0:
                    self.client.script_load(COUNT_ONCE)
                    continue
                raise
            except redis.RedisError:
                log.warning("could not count %s post views; kept for the next send", len(views))
                with self._lock:  # kept, within the bound
                    self._views = (views + self._views)[-self.limit :]
                return 0
        return 0

    def close(self) -> None:
        """Send what is pending and stop the sender (the app is going away)."""
        self._closed.set()
        self.send()

    def _run(self) -> None:
        while not self._closed.wait(self.seconds):
            try:
                self.send()
            except Exception:  # never let the sender die
                log.warning("sending post views failed", exc_info=True)


def pending_views() -> PendingViews | None:
    """This app's pending views, or None without Redis."""
    found: PendingViews | None = current_app.extensions.get("pending_views")
    if found is None:
        client = _client()
        if client is None:
            return None
        config = current_app.config
        found = current_app.extensions.setdefault(
            "pending_views",
            PendingViews(client, config["VIEW_SEND_SECONDS"], config["VIEW_BUFFER_MAX"]),
        )
    return found


def record(slug: str, caller: Caller) -> None:
    """Count a view of the published post `slug` (once per visitor per hour)."""
    hour = int(time.time() // DEDUPE_SECONDS)
    pending = pending_views()
    if pending is None:
        if cache.add(f"post-viewed:{slug}:{hour}:{visitor(caller)}", 1, timeout=DEDUPE_SECONDS):
            _add_views({slug: 1})
        return
    pending.add((f"post-views:seen:{slug}:{hour}", visitor(caller), slug), hour)


def _add_views(counts: dict[str, int]) -> None:
    for slug, count in counts.items():
        db.session.execute(
            update(Post)
            .where(Post.slug == slug)
            .values(view_count=Post.view_count + count)
            .execution_options(synchronize_session=False)
        )


def flush() -> int:
    """Move the counted views into the database; returns the views added."""
    client = _client()
    if client is None:
        return 0
    served = pending_views()
    if served is not None:
        served.send()  # this process's own views first
    batch = f"{PENDING}:{uuid.uuid4().hex}"
    try:
        client.rename(PENDING, batch)  # atomic: new views start a fresh hash meanwhile
    except Exception as exc:  # no pending views (ResponseError: no such key)
        if "no such key" in str(exc).lower():
            return 0
        raise
    pending: dict[bytes, bytes] = client.hgetall(batch)
    counts = {key.decode(): int(value) for key, value in pending.items()}
    _add_views(counts)
    on_commit(lambda: client.delete(batch))  # kept until the counts are in the database
    return sum(counts.values())
