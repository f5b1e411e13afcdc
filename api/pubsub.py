"""One Redis pub/sub subscription on a background thread (a greenlet under gevent).

Shared by the job change notifications (`api.jobs.events`) and the near cache of cached reads
(`api.response_cache`): each hands it a channel and three callbacks. `on_up` runs only once
Redis has confirmed the subscription (`subscribe()` merely sends the command), so a listener
that treats "up" as "I hear every message from now on" is right; `on_lost` runs when the
connection drops, before it is retried with backoff (0.5 s doubling to 10 s).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)


class Subscription:
    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        on_up: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
        on_start: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.channel = channel
        self.on_message = on_message
        self.on_up = on_up
        self.on_lost = on_lost
        self.on_start = on_start  # before listening in a process: a forked child forgets state
        self.closing = False
        self.up = False  # Redis confirmed the subscription, and it has not dropped since
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._state = threading.Lock()  # `up` and the callbacks that tell of its change

    def start(self) -> None:
        """Start listening in this process (once; again in a forked child)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self.on_start()
            self._pid = os.getpid()
            threading.Thread(target=self._run, name=f"pubsub-{self.channel}", daemon=True).start()

    def close(self) -> None:
        self.closing = True

    def when_up(self, action: Callable[[], None]) -> None:
        """Run `action` now if the subscription is up (a listener joining late)."""
        with self._state:
            if self.up:
                action()

    def _changed(self, up: bool) -> None:
        with self._state:
            self.up = up
            (self.on_up if up else self.on_lost)()

    def _run(self) -> None:
        backoff = 0.5
        while not self.closing:
            client = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=5
            )
            subscription = client.pubsub()
            try:
                subscription.subscribe(self.channel)
                while not self.closing:
                    message = subscription.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "message":
                        self.on_message(message["data"])
                    elif message["type"] == "subscribe":
                        backoff = 0.5
                        self._changed(up=True)
            except Exception as exc:
                self._changed(up=False)
                if self.closing:  # the process is stopping: nothing to retry
                    return
                # A dropped or refused connection is one line, retried every few seconds while
                # Redis is away (a traceback each time said nothing more); anything else keeps
                # its traceback.
                expected = isinstance(exc, redis.ConnectionError | redis.TimeoutError)
                log.warning(
                    "subscription to %s lost (%s); retrying in %.1f s",
                    self.channel,
                    exc,
                    backoff,
                    exc_info=not expected,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                subscription.close()
                client.close()
        self._changed(up=False)
