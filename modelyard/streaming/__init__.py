"""Streaming inference: a model scores a live stream, each event's prediction written once.

- ``StreamRunner(StreamConfig(...))`` / ``modelyard models stream``: the engine (engine.py) between a
  ``Source`` and a ``Sink`` (base.py) picked by URI scheme (plugins.STREAM_SOURCES / STREAM_SINKS).
- ``score_stream`` / ``write_idempotent``: the same on Spark Structured Streaming (spark.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["StreamConfig", "StreamRunner", "score_stream", "write_idempotent"]


def __getattr__(name: str) -> Any:  # imported when used: pyspark, brokers' clients stay unloaded
    if name == "StreamConfig":
        from modelyard.streaming.config import StreamConfig

        return StreamConfig
    if name == "StreamRunner":
        from modelyard.streaming.runner import StreamRunner

        return StreamRunner
    if name in ("score_stream", "write_idempotent"):
        from modelyard.streaming import spark

        return getattr(spark, name)
    raise AttributeError(name)
