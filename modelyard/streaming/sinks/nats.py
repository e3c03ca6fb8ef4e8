"""NATS sink: predictions published to a JetStream subject, deduplicated by ``Nats-Msg-Id``.

``nats://host:4222?subject=predictions[&stream=PREDICTIONS][&duplicate-window=3600][&ack-timeout=10]``

Each record is one JSON message with header ``Nats-Msg-Id: <event_id>``; JetStream drops a message
whose id it already stored within the stream's duplicate window. The window bounds the guarantee:
keep it longer than the longest outage after which a batch could be redelivered. With ``stream=``
the stream is created (capturing ``subject``, with that window) if it does not exist.

A batch is published at once and its acknowledgements gathered once (JetStream's asynchronous
publish): every message of one ``write`` carries the same reply subject (``<inbox>.<write no>``),
one subscription on ``<inbox>.*`` counts the PubAcks as they arrive, and ``write`` returns when
JetStream acknowledged every message (stored, or a duplicate of one stored). An error reply, or
acknowledgements missing after ``ack-timeout`` seconds, fails the write (the engine retries it,
then stops without acknowledging the source: the messages already stored are dropped as
duplicates on the retry). No request/response future, timer or task per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.streaming.base import BaseSink, encode_records
from modelyard.streaming.sources.nats import nats_servers
from modelyard.streaming.uris import EndUri

PUBLISH_WINDOW = 4000  # messages published before their acknowledgements are awaited


class _Pending:
    """One ``write``'s outstanding acknowledgements."""

    __slots__ = ("expected", "acked", "duplicates", "errors", "done")

    def __init__(self, expected: int, done: asyncio.Future) -> None:
        self.expected, self.acked, self.duplicates, self.errors, self.done = expected, 0, 0, [], done


class NatsSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.end = end
        self.subject = end.option("subject", required=True)
        self.stream = end.option("stream")
        self.window = end.float_option("duplicate-window", 3600.0)
        self.ack_timeout = end.float_option("ack-timeout", 10.0)
        self.nc = None
        self.js = None
        self.duplicates = 0
        self._inbox = ""
        self._writes = 0
        self._pending: dict[str, _Pending] = {}

    async def start(self) -> None:
        import nats
        from nats.js.errors import NotFoundError

        check_subject(self.subject)  # once here: nats-py's check of every publish is turned off
        self.nc = await nats.connect(
            servers=[nats_servers(self.end)], name="modelyard-stream-sink", skip_subject_validation=True
        )
        self.js = self.nc.jetstream()
        if self.stream:
            try:
                await self.js.stream_info(self.stream)
            except NotFoundError:
                await self.js.add_stream(
                    name=self.stream, subjects=[self.subject], duplicate_window=self.window
                )
        self._inbox = self.nc.new_inbox()
        await self.nc.subscribe(self._inbox + ".*", cb=self._on_ack)

    async def _on_ack(self, msg) -> None:
        pending = self._pending.get(msg.subject)
        if pending is None:  # a late acknowledgement of a write that already gave up
            return
        data = msg.data
        if not data or b'"error"' in data:  # an API error, or a status message (503: no stream took it)
            status = (msg.headers or {}).get("Status", "")
            pending.errors.append(data.decode(errors="replace") if data else f"status {status}".strip())
        else:
            pending.acked += 1
            if b'"duplicate"' in data and orjson.loads(data).get("duplicate"):
                pending.duplicates += 1
        if pending.acked + len(pending.errors) >= pending.expected and not pending.done.done():
            pending.done.set_result(None)

    async def write(self, records: Sequence[dict]) -> None:
        payloads, ids = encode_records(records)
        for start in range(0, len(payloads), PUBLISH_WINDOW):
            await self._publish(payloads[start : start + PUBLISH_WINDOW], ids[start : start + PUBLISH_WINDOW])

    async def _publish(self, payloads: list[bytes], ids: list[str]) -> None:
        self._writes += 1
        reply = f"{self._inbox}.{self._writes}"
        pending = _Pending(len(payloads), asyncio.get_running_loop().create_future())
        self._pending[reply] = pending
        try:
            publish, subject = self.nc.publish, self.subject
            for payload, event_id in zip(payloads, ids, strict=True):
                await publish(subject, payload, reply=reply, headers={"Nats-Msg-Id": event_id})
            await self.nc.flush(self.ack_timeout)
            try:
                await asyncio.wait_for(asyncio.shield(pending.done), self.ack_timeout)
            except TimeoutError:
                raise ModelyardError(
                    f"JetStream acknowledged {pending.acked} of {pending.expected} predictions "
                    f"published to {self.subject!r} within {self.ack_timeout:g}s"
                ) from None
            if pending.errors:
                raise ModelyardError(
                    f"JetStream refused {len(pending.errors)} of {pending.expected} predictions "
                    f"published to {self.subject!r}: {pending.errors[0][:500]}"
                )
            self.duplicates += pending.duplicates
        finally:
            self._pending.pop(reply, None)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.drain()


def check_subject(subject: str) -> None:
    """A subject one can publish to: dot-separated non-empty tokens, no whitespace, no wildcard."""
    tokens = subject.split(".")
    if not subject or any(not t or t in ("*", ">") or any(c.isspace() for c in t) for t in tokens):
        raise InvalidParameterValue(f"Not a NATS subject to publish to: {subject!r}")
