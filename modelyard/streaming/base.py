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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson


@dataclass(slots=True)
class Delivery:
    """One broker message: the unit of acknowledgement (it may hold one event or many rows)."""

    id: str  # the broker's message id (Redis entry id, JetStream stream sequence, AMQP message id, file:row)
    body: Any  # bytes, or a mapping of bytes -> bytes (a Redis entry's fields), or a dict row (files)
    handle: Any = None  # whatever the source needs to acknowledge it
    produced_at: float | None = None  # epoch seconds the broker received it, when known (latency)
    attempts: int = 1  # deliveries so far, when the broker counts them


PLAIN_IDS = re.compile(rb"[\w.:\-\n]*", re.ASCII)  # ids whose JSON text is the id in quotes


class Predictions(Sequence[dict]):
    """A micro-batch's prediction records ``{"event_id", "model_version", "prediction", ...passthrough}``,
    held as columns. Any sink can use it as the list of dicts it is; a sink that knows it can encode
    the columns at once instead (``plain``: no per-record Python work)."""

    __slots__ = ("ids", "version", "values", "passthrough", "_records")

    def __init__(
        self, ids: list[str], version: str, values: list, passthrough: list[dict | None] | None = None
    ) -> None:
        self.ids, self.version, self.values, self.passthrough = ids, version, values, passthrough
        self._records: list[dict] | None = None

    def records(self) -> list[dict]:
        if self._records is None:
            version, carried = self.version, self.passthrough
            self._records = [
                {"event_id": i, "model_version": version, "prediction": v}
                for i, v in zip(self.ids, self.values, strict=True)
            ]
            if carried is not None:
                for record, extra in zip(self._records, carried, strict=True):
                    for key, value in (extra or {}).items():
                        record.setdefault(key, value)
        return self._records

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):  # type: ignore[override]
        return self.records()[index]

    def __iter__(self):
        return iter(self.records())

    def plain(self) -> tuple[bytes, bytes] | None:
        """(the ids joined by newlines, the predictions' JSON texts joined by commas) when every id is
        plain (letters, digits, ``.:-_``: its JSON text is itself in quotes) and every prediction a
        JSON scalar number (or null / boolean), with no passthrough; else None. Two C-level passes."""
        if self.passthrough is not None or not self.ids:
            return None
        ids = "\n".join(self.ids).encode()
        if (
            not ids
            or PLAIN_IDS.fullmatch(ids) is None
            or b"\n\n" in ids
            or ids.endswith(b"\n")
            or ids.startswith(b"\n")
        ):
            return None
        try:
            text = orjson.dumps(self.values)
        except TypeError:
            return None
        if b'"' in text or b"{" in text or text.count(b"[") != 1:
            return None
        return ids, text[1:-1]


def encode_records(records: Sequence[dict]) -> tuple[list[bytes], list[str]]:
    """One JSON message body per record, and the records' event ids (as text). A plain batch
    (``Predictions.plain``) is encoded without building a dict per record."""
    plain = records.plain() if isinstance(records, Predictions) else None
    if plain is not None:
        ids, values = plain
        version = orjson.dumps(records.version)
        head = b'{"event_id":"'
        tail = b'","model_version":' + version + b',"prediction":'
        id_list = ids.split(b"\n")
        bodies = [head + i + tail + v + b"}" for i, v in zip(id_list, values.split(b","), strict=True)]
        return bodies, records.ids
    from modelyard.serving.outputs import dumps

    return [dumps(r) for r in records], [str(r["event_id"]) for r in records]


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
