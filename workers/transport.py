"""The Redis broker transport, with one client per channel instead of one per message.

kombu's Redis channel builds a new `redis.Redis` for every message it publishes (about a fifth
of a millisecond of CPU, on every job submission); the client is only a handle on the
channel's connection pool and is safe to share between threads, so each channel keeps one.
Selected for `redis://` brokers by `config.broker_transport` (`rediss://` keeps kombu's own).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's client: kombu keeps it itself
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:  # new pool: reconnected
            client = self._shared_client = super()._create_client()  # type: ignore[misc]
        return client


class Transport(redis.Transport):
    Channel = Channel
