"""Streaming fixtures: a 20-feature model saved once, a registry whose alias can move, and unique
names on the shared Redis / NATS / RabbitMQ servers (everything created under them is removed)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from model_fixtures import data, estimators, model_dir, registry  # noqa: E402,F401  (shared with tests/serving, tests/streaming)
from stream_helpers import AMQP_URL, COLUMNS, NATS_URL, REDIS_URL, service_unavailable  # noqa: E402


@pytest.fixture(scope="session")
def columns() -> list[str]:
    return COLUMNS


@pytest.fixture
def name() -> str:
    """A unique name for this test's streams, groups, subjects, queues."""
    return f"modelyard-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(name) -> Iterator:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        service_unavailable(f"Redis at {REDIS_URL} is not available: {exc}")
    yield client
    for key in client.scan_iter(match=f"{name}*", count=1000):
        client.delete(key)
    client.close()




@pytest.fixture
def jetstream(name) -> Iterator:
    """A JetStream stream ``<name>-events`` on subject ``<name>.events`` (and ``<name>-*`` streams removed after)."""
    from stream_helpers import Nats

    try:
        nats = Nats(NATS_URL)
    except Exception as exc:
        service_unavailable(f"NATS JetStream at {NATS_URL} is not available: {exc}")
    nats.call(lambda js: js.add_stream(name=f"{name}-events", subjects=[f"{name}.events"]))
    yield nats
    async def drop(js):
        for stream in await js.streams_info():
            if stream.config.name.startswith(name):
                await js.delete_stream(stream.config.name)
    nats.call(drop)
    nats.close()


@pytest.fixture
def rabbit(name) -> Iterator:
    """A channel on the local RabbitMQ; the queues and exchanges it declared are removed after."""
    from stream_helpers import Rabbit

    try:
        rabbit = Rabbit(AMQP_URL)
    except Exception as exc:
        service_unavailable(f"RabbitMQ at {AMQP_URL} is not available: {exc}")
    yield rabbit
    rabbit.cleanup()
