"""The message format, the same on every broker (README: "Streaming inference").

In: an event is one JSON object whose keys are the model's input columns.

- NATS / AMQP: the message body is that object.
- Redis Streams: either an entry whose fields are the columns (each value read as a JSON scalar,
  else kept as a string) or an entry with one field ``data`` holding the JSON object.
- ``--format parquet`` / ``arrow``: a body (or the ``data`` field) holds many rows as a Parquet file
  or an Arrow IPC stream; row ``i`` of message ``M`` is event ``M:i``.
- The event id is the broker's message id unless ``--id-field NAME`` names a field of the event.
- Fields listed in ``--passthrough`` are copied into the prediction record.

Out: a prediction is ``{"event_id", "model_version", "prediction", ...passthrough}``; a dead letter is
``{"event_id", "reason", "error", "payload", "attempts", "model_version"}``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson

from modelyard.streaming.base import Delivery

UNPARSEABLE, SCHEMA, MODEL_ERROR, NO_ID = "unparseable", "schema", "model_error", "missing_id"
MISSING_FEATURES = "missing_features"  # a feature-spec model's event whose key has no online row (nor default)
REASONS = (UNPARSEABLE, SCHEMA, MODEL_ERROR, NO_ID, MISSING_FEATURES)


@dataclass(slots=True)
class Event:
    id: str
    row: dict | None  # the event's fields (None when it could not be read)
    delivery: Delivery
    passthrough: dict | None = None
    error: str | None = None  # why it could not be read
    reason: str | None = None


def decode_all(deliveries: list[Delivery], fmt: str, id_field: str | None, passthrough: tuple[str, ...]) -> list[Event]:
    """The events of a micro-batch, in order. The common case (a Redis entry ``{"data": <JSON object>}``,
    no ``--id-field``) is decoded in one loop without a call per message; the rest by ``decode``."""
    if fmt != "json" or id_field is not None:
        return [e for d in deliveries for e in decode(d, fmt, id_field, passthrough)]
    events = []
    append, loads = events.append, orjson.loads
    for delivery in deliveries:
        body = delivery.body
        if type(body) is dict and len(body) == 1:
            data = body.get(b"data")
            if data is not None:
                try:
                    row = loads(data)
                except orjson.JSONDecodeError:
                    row = None
                if type(row) is dict:
                    append(Event(delivery.id, row, delivery,
                                 {n: row.get(n) for n in passthrough} if passthrough else None))
                    continue
        events.extend(decode(delivery, fmt, id_field, passthrough))
    return events


def decode(delivery: Delivery, fmt: str, id_field: str | None, passthrough: tuple[str, ...]) -> list[Event]:
    """The events of one delivery (one for JSON, one per row for Parquet / Arrow); bad ones carry an error."""
    body = delivery.body
    if fmt == "json" and id_field is None and type(body) is dict and len(body) == 1 and b"data" in body:
        try:  # the common case, kept short: a Redis entry {"data": <JSON object>}
            row = orjson.loads(body[b"data"])
        except orjson.JSONDecodeError:
            row = None
        if type(row) is dict:
            return [Event(delivery.id, row, delivery, {n: row.get(n) for n in passthrough} if passthrough else None)]
    try:
        rows = _rows(delivery.body, fmt)
    except Exception as exc:
        return [Event(delivery.id, None, delivery, error=f"{type(exc).__name__}: {exc}"[:500], reason=UNPARSEABLE)]
    many = fmt != "json"
    events = []
    for i, row in enumerate(rows):
        event_id = f"{delivery.id}:{i}" if many else delivery.id
        if not isinstance(row, dict):
            events.append(Event(event_id, None, delivery, error=f"an event must be a JSON object, got {type(row).__name__}",
                                reason=UNPARSEABLE))
            continue
        if id_field is not None:
            value = row.get(id_field)
            if value is None or isinstance(value, dict | list):
                events.append(Event(event_id, row, delivery, error=f"the event has no scalar id field {id_field!r}",
                                    reason=NO_ID))
                continue
            event_id = str(value)
        carried = {name: row.get(name) for name in passthrough} if passthrough else None
        events.append(Event(event_id, row, delivery, carried))
    return events


def _rows(body: Any, fmt: str) -> list:
    if isinstance(body, dict):  # a row already (files) or a Redis entry's fields
        if not body or isinstance(next(iter(body)), str):
            return [body]
        if len(body) == 1 and b"data" in body:
            body = body[b"data"]
        elif fmt == "json":
            return [{k.decode(): _scalar(v) for k, v in body.items()}]
        else:
            raise ValueError("a Parquet / Arrow message needs its rows in the field 'data'")
    if fmt == "json":
        return [orjson.loads(body)]
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(body))
    else:
        table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    return table.to_pylist()


def _scalar(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def payload_text(delivery: Delivery) -> str:
    """The original message, as a dead letter carries it (text; undecodable bytes replaced)."""
    body = delivery.body
    if isinstance(body, dict):
        if body and isinstance(next(iter(body)), bytes):
            body = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in body.items()}
        return orjson.dumps(body, default=str).decode()
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", errors="replace")
    return str(body)


def dead_letter(event: Event, reason: str, error: str, attempts: int, model_version: str | None, many: bool) -> dict:
    """The dead-letter record of ``event``; its payload is the original message (its row, for many-row formats)."""
    if many and event.row is not None:
        payload = orjson.dumps(event.row, default=str).decode()
    else:
        payload = payload_text(event.delivery)
    return {
        "event_id": event.id,
        "reason": reason,
        "error": error[:2000],
        "payload": payload,
        "attempts": attempts,
        "model_version": model_version,
    }
