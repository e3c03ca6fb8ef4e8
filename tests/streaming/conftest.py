"""Streaming fixtures: a 20-feature model saved once, a registry whose alias can move, and unique
names on the shared Redis / NATS / RabbitMQ servers (everything created under them is removed)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from stream_helpers import AMQP_URL, COLUMNS, NATS_URL, REDIS_URL, service_unavailable  # noqa: E402

import modelyard  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402
from modelyard.tracking.client import TrackingClient  # noqa: E402

ENV_VARS = (
    "MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MODELYARD_DEFAULT_ARTIFACT_ROOT", "MODELYARD_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_NAME", "MODELYARD_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_RUN_ID", "MLFLOW_RUN_ID",
)


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(200, len(COLUMNS))), columns=COLUMNS)


@pytest.fixture(scope="session")
def estimators(data):
    """(version 1, version 2): the same decision, classes 0/1 and 10/11."""
    from sklearn.linear_model import LogisticRegression

    y = (data["f0"] + data["f1"] > 0).astype(int)
    return LogisticRegression().fit(data, y), LogisticRegression().fit(data, y + 10)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, estimators, data) -> Path:
    import modelyard.sklearn as msk

    path = tmp_path_factory.mktemp("models") / "logreg"
    msk.save_model(estimators[0], path, input_example=data.head(3))
    return path


@pytest.fixture
def registry(tmp_path, monkeypatch, estimators, data) -> Iterator[tuple[str, TrackingClient]]:
    """A SQLite registry in tmp_path: model 'churn' versions 1 and 2, alias 'champion' on 1."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    modelyard.set_tracking_uri(uri)
    import modelyard.sklearn as msk

    for estimator in estimators:
        with modelyard.start_run():
            info = msk.log_model(estimator, name="model", input_example=data.head(3))
        modelyard.register_model(info.model_uri, "churn")
    client = TrackingClient(uri)
    client.set_registered_model_alias("churn", "champion", 1)
    yield uri, client
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


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
