"""Post view counts: one per visitor (user, or client address when anonymous) per post per clock
hour, counted in Redis and added to the database by a beat task, so a read never costs an UPDATE.

The visitors of a post in an hour are a HyperLogLog (at most 12 KB, whatever the number of
visitors, ~1% error) that expires after two hours: memory is bounded by the posts read, not by
the visitors or anything they send (the User-Agent used to be part of the key). Without Redis
(the embedded mode) each first view of the hour updates the row directly."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from sqlalchemy import update

from api import response_cache
from api.blog.models import Post
from api.database import on_commit
from api.extensions import cache, db
from api.response_cache import Visit
from api.security import Caller

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
    """The Redis the views are counted in: the response cache's, so a cached read and its view
    are one round trip (`response_cache.Visit`). None in the embedded mode."""
    backend = response_cache.redis_backend()
    return None if backend is None else backend._write_client


def visit(slug: str, caller: Caller) -> Visit | None:
    """The view to count with the cache read of `slug`, or None without Redis."""
    if _client() is None:
        return None
    hour = int(time.time() // DEDUPE_SECONDS)
    return Visit(
        f"post-views:seen:{slug}:{hour}", PENDING, visitor(caller), slug, 2 * DEDUPE_SECONDS
    )


def record(slug: str, caller: Caller) -> None:
    """Count a view of the published post `slug` (once per visitor per hour)."""
    client = _client()
    if client is None:
        hour = int(time.time() // DEDUPE_SECONDS)
        if cache.add(f"post-viewed:{slug}:{hour}:{visitor(caller)}", 1, timeout=DEDUPE_SECONDS):
            _add_views({slug: 1})
        return
    found = visit(slug, caller)
    assert found is not None
    client.eval(COUNT_ONCE, 2, found.seen_key, PENDING, found.visitor, slug, found.ttl)


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
