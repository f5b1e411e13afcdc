"""Where security state lives: revoked tokens, spent refresh and one-time tokens, sign-in
failures and lockouts, email quotas, OAuth state, idempotency markers.

It is kept apart from the response cache (its own Redis URL, `SECURITY_REDIS_URL`, default
`REDIS_URL`, and its own key prefix) so that cache pressure can never evict it: the Redis behind
it must run with `maxmemory-policy noeviction`, while the response cache may use any policy. A
store that cannot answer raises, and callers fail closed (503), never open.

Redis in production; a folder (`DATA_DIR/security`) shared by the local processes otherwise.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, Protocol, cast

import redis
from cachelib import FileSystemCache

PREFIX = "security:"


class SecurityStore(Protocol):
    def get_many(self, *keys: str) -> list[Any]: ...

    def set(self, key: str, value: Any, ttl: int) -> None: ...

    def add(self, key: str, value: Any, ttl: int) -> bool:
        """Set only if absent (True when this call set it)."""
        ...

    def delete(self, key: str) -> None: ...

    def take(self, key: str) -> Any:
        """Get and delete in one step (None when absent): of two takers, one gets it."""
        ...

    def count(self, key: str, window: int) -> int:
        """Increment a counter that starts at the first event and expires `window` s later."""
        ...


class RedisSecurityStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def _load(raw: Any) -> Any:
        return None if raw is None else json.loads(raw)

    def get_many(self, *keys: str) -> list[Any]:
        values = cast("list[Any]", self.client.mget([PREFIX + key for key in keys]))
        return [self._load(raw) for raw in values]

    def set(self, key: str, value: Any, ttl: int) -> None:
        self.client.set(PREFIX + key, json.dumps(value), ex=max(1, ttl))

    def add(self, key: str, value: Any, ttl: int) -> bool:
        return bool(self.client.set(PREFIX + key, json.dumps(value), ex=max(1, ttl), nx=True))

    def delete(self, key: str) -> None:
        self.client.delete(PREFIX + key)

    def take(self, key: str) -> Any:
        return self._load(self.client.getdel(PREFIX + key))

    def count(self, key: str, window: int) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(PREFIX + key, 0, ex=max(1, window), nx=True)
        pipe.incr(PREFIX + key)
        return int(pipe.execute()[1])


class FileSecurityStore:
    """The embedded mode's store: one file per key, shared by the processes of one machine.
    `take` renames the file before reading it, so of two takers only one gets it."""

    def __init__(self, directory: str) -> None:
        self.files = FileSystemCache(directory, threshold=0, default_timeout=0)
        self.directory = Path(directory)

    def get_many(self, *keys: str) -> list[Any]:
        return [self.files.get(PREFIX + key) for key in keys]

    def set(self, key: str, value: Any, ttl: int) -> None:
        self.files.set(PREFIX + key, value, timeout=max(1, ttl))

    def add(self, key: str, value: Any, ttl: int) -> bool:
        return bool(self.files.add(PREFIX + key, value, timeout=max(1, ttl)))

    def delete(self, key: str) -> None:
        self.files.delete(PREFIX + key)

    def take(self, key: str) -> Any:
        path = self.files._get_filename(PREFIX + key)
        claimed = f"{path}.taken.{os.getpid()}.{threading.get_ident()}"
        try:
            os.rename(path, claimed)  # atomic: the one taker that renames it owns it
        except FileNotFoundError:
            return None
        try:
            with open(claimed, "rb") as handle:  # cachelib's format: expiry, then the value
                expires = struct.unpack("I", handle.read(4))[0]
                value = self.files.serializer.load(handle)
        finally:
            os.remove(claimed)
        return value if expires == 0 or expires >= time.time() else None

    def count(self, key: str, window: int) -> int:
        self.files.add(PREFIX + key, 0, timeout=max(1, window))
        return int(self.files.inc(PREFIX + key) or 0)


def create_security_store(config: dict[str, Any]) -> SecurityStore:
    if config["SECURITY_REDIS_URL"]:
        client = redis.Redis.from_url(
            config["SECURITY_REDIS_URL"], socket_connect_timeout=1, socket_timeout=2
        )
        return RedisSecurityStore(client)
    return FileSecurityStore(str(Path(config["DATA_DIR"]) / "security"))
