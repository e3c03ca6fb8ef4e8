"""Tables of implementations, resolved only when used: ``(name, "lazy.dotted:Object")``.

Built-in stores and artifact repositories are registered here exactly as third-party
ones are through entry points (groups ``modelyard.tracking_store`` and
``modelyard.artifact_repository``), so nothing in the core branches on a vendor.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from modelyard.exceptions import InvalidParameterValue

# URI scheme -> factory taking (uri, settings) and returning a TrackingStore.
TRACKING_STORES: dict[str, str] = {
    "sqlite": "modelyard.store.tracking.sql.store:SqlTrackingStore.from_uri",
    "postgresql": "modelyard.store.tracking.sql.store:SqlTrackingStore.from_uri",
    "postgres": "modelyard.store.tracking.sql.store:SqlTrackingStore.from_uri",
    "mysql": "modelyard.store.tracking.sql.store:SqlTrackingStore.from_uri",
    "mariadb": "modelyard.store.tracking.sql.store:SqlTrackingStore.from_uri",
    "http": "modelyard.store.tracking.rest:from_uri",
    "https": "modelyard.store.tracking.rest:from_uri",
}

# URI scheme -> ArtifactRepository class taking the root URI.
ARTIFACT_REPOSITORIES: dict[str, str] = {
    "": "modelyard.artifacts.local:LocalArtifactRepository",
    "file": "modelyard.artifacts.local:LocalArtifactRepository",
    "s3": "modelyard.artifacts.s3:S3ArtifactRepository",
    "mlflow-artifacts": "modelyard.artifacts.http:HttpArtifactRepository",
    "http": "modelyard.artifacts.http:HttpArtifactRepository",
    "https": "modelyard.artifacts.http:HttpArtifactRepository",
}


# Model flavor name (the key under ``flavors:`` in MLmodel) or MLflow ``loader_module`` of the
# python_function flavor -> the Flavor object implementing it. Third parties add theirs through
# the ``modelyard.flavor`` entry-point group. A module path written in a model file is never
# imported: an unknown name is an error.
FLAVORS: dict[str, str] = {
    "sklearn": "modelyard.flavors.sklearn:FLAVOR",
    "mlflow.sklearn": "modelyard.flavors.sklearn:FLAVOR",
    "xgboost": "modelyard.flavors.xgboost:FLAVOR",
    "mlflow.xgboost": "modelyard.flavors.xgboost:FLAVOR",
    "lightgbm": "modelyard.flavors.lightgbm:FLAVOR",
    "mlflow.lightgbm": "modelyard.flavors.lightgbm:FLAVOR",
    "python_model": "modelyard.flavors.pyfunc:FLAVOR",
    "mlflow.pyfunc.model": "modelyard.flavors.pyfunc:FLAVOR",
}


def load_object(dotted: str) -> Any:
    """Import ``"package.module:Attr.attr"`` and return the object."""
    module_name, _, attr_path = dotted.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split(".") if attr_path else ():
        obj = getattr(obj, part)
    return obj


@cache
def _entry_points(group: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=group)}


def resolve(table: dict[str, str], group: str, scheme: str, what: str) -> Any:
    base = scheme.split("+", 1)[0].lower()
    dotted = table.get(scheme) or table.get(base) or _entry_points(group).get(scheme) or _entry_points(group).get(base)
    if dotted is None:
        known = sorted({*table, *_entry_points(group)} - {""})
        raise InvalidParameterValue(
            f"No {what} for URI scheme {scheme!r}; known schemes: {', '.join(known)}"
        )
    return load_object(dotted)


def lookup(table: dict[str, str], group: str, name: str, what: str) -> Any:
    """The object registered under ``name`` (exact, then lower-case) in ``table`` or the entry points."""
    dotted = table.get(name) or table.get(name.lower()) or _entry_points(group).get(name)
    if dotted is None:
        known = sorted({*table, *_entry_points(group)})
        raise InvalidParameterValue(f"No {what} named {name!r}; known: {', '.join(known)}")
    return load_object(dotted)


# Tracking-store class name -> factory ``(tracking_store, settings)`` of the model registry that
# lives in the same database or on the same server.
REGISTRY_STORES: dict[str, str] = {
    "SqlTrackingStore": "modelyard.store.registry.sql.store:SqlRegistryStore.from_tracking_store",
    "RestTrackingStore": "modelyard.store.registry.rest:RestRegistryStore.from_tracking_store",
}


# Streaming ends (modelyard/streaming): URI scheme -> class taking (EndUri, **options). Third parties
# add brokers through the ``modelyard.stream_source`` / ``modelyard.stream_sink`` entry-point groups.
STREAM_SOURCES: dict[str, str] = {
    "redis": "modelyard.streaming.sources.redis:RedisStreamSource",
    "rediss": "modelyard.streaming.sources.redis:RedisStreamSource",
    "nats": "modelyard.streaming.sources.nats:JetStreamSource",
    "amqp": "modelyard.streaming.sources.amqp:AmqpSource",
    "amqps": "modelyard.streaming.sources.amqp:AmqpSource",
    "file": "modelyard.streaming.sources.files:FolderSource",
}
STREAM_SINKS: dict[str, str] = {
    "redis": "modelyard.streaming.sinks.redis:RedisStreamSink",
    "rediss": "modelyard.streaming.sinks.redis:RedisStreamSink",
    "nats": "modelyard.streaming.sinks.nats:NatsSink",
    "amqp": "modelyard.streaming.sinks.amqp:AmqpSink",
    "amqps": "modelyard.streaming.sinks.amqp:AmqpSink",
    "postgresql": "modelyard.streaming.sinks.sql:SqlTableSink",
    "postgres": "modelyard.streaming.sinks.sql:SqlTableSink",
    "mysql": "modelyard.streaming.sinks.sql:SqlTableSink",
    "mariadb": "modelyard.streaming.sinks.sql:SqlTableSink",
    "sqlite": "modelyard.streaming.sinks.sql:SqlTableSink",
    "parquet": "modelyard.streaming.sinks.parquet:ParquetSink",
    "file": "modelyard.streaming.sinks.parquet:ParquetSink",
    "delta": "modelyard.streaming.sinks.delta:DeltaSink",
}


# Job types (modelyard/jobs/kinds.py): a top-level section of a job definition -> a function
# ``(section, job: dict) -> list of task dicts`` that the section stands for, called when the
# definition is parsed (imported on first use). Third parties add theirs through the
# ``modelyard.job_type`` entry-point group.
JOB_TYPES: dict[str, str] = {
    "retrain": "modelyard.retrain.job:expand",
}


def job_types() -> dict[str, str]:
    return {**_entry_points("modelyard.job_type"), **JOB_TYPES}
