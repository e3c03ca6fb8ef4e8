"""NATS sink: predictions published to a JetStream subject, deduplicated by ``Nats-Msg-Id``.

``nats://host:4222?subject=predictions[&stream=PREDICTIONS][&duplicate-window=3600]``

Each record is one JSON message with header ``Nats-Msg-Id: <event_id>``; the publish waits for
JetStream's acknowledgement (stored), and JetStream drops a message whose id it already stored
within the stream's duplicate window. The window bounds the guarantee: keep it longer than the
longest outage after which a batch could be redelivered. With ``stream=`` the stream is created
(capturing ``subject``, with that window) if it does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modelyard.serving.outputs import dumps
from modelyard.streaming.base import BaseSink
from modelyard.streaming.sources.nats import nats_servers
from modelyard.streaming.uris import EndUri

PUBLISH_WINDOW = 2000  # publishes awaiting their acks at once


class NatsSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.end = end
        self.subject = end.option("subject", required=True)
        self.stream = end.option("stream")
        self.window = end.float_option("duplicate-window", 3600.0)
        self.nc = None
        self.js = None
        self.duplicates = 0

    async def start(self) -> None:
        import nats
        from nats.js.errors import NotFoundError

        self.nc = await nats.connect(servers=[nats_servers(self.end)], name="modelyard-stream-sink")
        self.js = self.nc.jetstream()
        if self.stream:
            try:
                await self.js.stream_info(self.stream)
            except NotFoundError:
                await self.js.add_stream(name=self.stream, subjects=[self.subject], duplicate_window=self.window)

    async def write(self, records: Sequence[dict]) -> None:
        for start in range(0, len(records), PUBLISH_WINDOW):
            chunk = records[start:start + PUBLISH_WINDOW]
            acks = await asyncio.gather(*(
                self.js.publish(self.subject, dumps(r), headers={"Nats-Msg-Id": str(r["event_id"])}) for r in chunk
            ))
            self.duplicates += sum(1 for a in acks if a.duplicate)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.drain()
