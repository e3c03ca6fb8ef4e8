"""The two seams of the streaming engine: a ``Source`` of deliveries and a ``Sink`` of records.

A broker (or a folder, or a table) is one module implementing one of these; ``plugins.py`` maps a
URI scheme to it (``STREAM_SOURCES`` / ``STREAM_SINKS``, plus the entry-point groups
``modelyard.stream_source`` / ``modelyard.stream_sink``). The engine never knows which broker it
talks to.

Contract (what makes delivery effectively once):

- ``Source.fetch`` hands out deliveries that stay *pending* on the broker until ``ack``; a
  delivery never acknowledged (the consumer died) comes back, to this or another consumer.
- ``Sink.write`` returns only once the records are durably stored, and is idempotent on
  ``event_id``: writing a record whose event id is already there adds nothing.
- The engine acknowledges a delivery only after every record it produced (prediction or dead
  letter) was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class Delivery:
    """One broker message: the unit of acknowledgement (it may hold one event or many rows)."""

    id: str  # the broker's message id (Redis entry id, JetStream stream sequence, AMQP message id, file:row)
    body: Any  # bytes, or a mapping of bytes -> bytes (a Redis entry's fields), or a dict row (files)
    handle: Any = None  # whatever the source needs to acknowledge it
    produced_at: float | None = None  # epoch seconds the broker received it, when known (latency)
    attempts: int = 1  # deliveries so far, when the broker counts them
    meta: dict = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """Where events come from. Implementations take ``(uri, options)`` in their constructor."""

    async def start(self) -> None: ...

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries; waits at most ``timeout_s`` for the first (0: don't wait)."""
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these: the broker may forget them (called after the sink wrote their records)."""
        ...

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        """Still working on these (a slow batch): keep the broker from redelivering them meanwhile."""
        ...

    async def lag(self) -> int | None:
        """Events waiting on the broker for this consumer (group), if the broker says."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Where records go: predictions ``{event_id, model_version, prediction, ...}`` or dead letters."""

    async def start(self) -> None: ...

    async def write(self, records: Sequence[dict]) -> None:
        """Store ``records`` durably and idempotently on ``record["event_id"]``; return when stored."""
        ...

    async def close(self) -> None: ...


class BaseSource:
    """Defaults for the optional parts of ``Source``."""

    async def start(self) -> None:
        return None

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def lag(self) -> int | None:
        return None

    async def close(self) -> None:
        return None


class BaseSink:
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
