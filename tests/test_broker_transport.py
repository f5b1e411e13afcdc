"""The Redis broker transport (workers/transport.py): one client per channel, renewed with the
channel's pool, and chosen only for plain `redis://` brokers."""

from __future__ import annotations

import redis
from kombu import Connection, Producer

from config import broker_transport
from tests.conftest import REDIS_DB_BROKER, REDIS_HOST_URL


def test_a_channel_publishes_through_one_client_until_its_pool_is_renewed():
    url = f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}"
    broker = redis.Redis.from_url(url)
    broker.delete("transport-test")
    with Connection(url, transport=broker_transport(url)) as connection:
        channel = connection.channel()
        producer = Producer(channel)
        producer.publish({"n": 1}, routing_key="transport-test")
        first = channel._create_client()
        producer.publish({"n": 2}, routing_key="transport-test")
        assert channel._create_client() is first  # not one client per message

        channel._disconnect_pools()  # what kombu does after a lost connection
        producer.publish({"n": 3}, routing_key="transport-test")
        assert channel._create_client() is not first
        assert channel._create_client().connection_pool is channel.pool
    assert broker.llen("transport-test") == 3
    broker.delete("transport-test")


def test_only_plain_redis_brokers_get_the_shared_client_transport():
    assert broker_transport("redis://127.0.0.1:6379/1") == "workers.transport:Transport"
    assert broker_transport("rediss://cache.example.com:6380/1") is None  # kombu's TLS setup
    assert broker_transport("amqp://guest:guest@127.0.0.1:5672//") is None
