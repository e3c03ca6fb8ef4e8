"""NATS JetStream source: a durable pull consumer with explicit acks.

``nats://[user:pass@]host:4222?stream=EVENTS&durable=scorers[&subject=events.>][&ack-wait=30]``

- The durable consumer is created (explicit ack, ``ack-wait`` seconds, ``max_ack_pending`` sized to
  the engine's read-ahead) unless it exists; every process naming the same ``durable`` shares it.
- A message is acknowledged only after its prediction is written; the ack is flushed to the server.
- **AckWait**: while a batch is being scored the engine sends ``+WPI`` (in progress) every third of
  ``ack-wait``, so a slow batch is not redelivered behind its back. (An ack arriving after the
  redelivery would confirm the other consumer's copy, nats-server#4786; the idempotent sink makes
  such a double delivery harmless, and the keep-alive keeps it from happening.)
- The event id is the stream sequence; ``produced_at`` the time JetStream stored the message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from modelyard.streaming.base import BaseSource, Delivery
from modelyard.streaming.uris import EndUri

logger = logging.getLogger(__name__)


def nats_servers(end: EndUri) -> str:
    return f"nats://{end.netloc}"


class JetStreamSource(BaseSource):
    def __init__(self, end: EndUri, *, prefetch: int = 1000, **_: object) -> None:
        self.end = end
        self.stream = end.option("stream", required=True)
        self.durable = end.option("durable", required=True)
        self.subject = end.option("subject")
        self.ack_wait = end.float_option("ack-wait", 30.0)
        self.in_progress_every_s = self.ack_wait / 3
        self.max_ack_pending = max(prefetch * 2, 1000)
        self.nc = None
        self.sub = None

    async def start(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        self.nc = await nats.connect(servers=[nats_servers(self.end)], name="modelyard-stream")
        js = self.nc.jetstream()
        try:
            await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            config = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                    max_ack_pending=self.max_ack_pending, filter_subject=self.subject)
            await js.add_consumer(self.stream, config=config)
        self.sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            msgs = await self.sub.fetch(max_messages, timeout=max(timeout_s, 0.001))
        except (NatsTimeout, TimeoutError):  # nats-py raises either when nothing came
            return []
        out = []
        for msg in msgs:
            meta = msg.metadata
            stamp = meta.timestamp.timestamp() if meta.timestamp is not None else None
            out.append(Delivery(str(meta.sequence.stream), msg.data, msg, stamp, meta.num_delivered or 1))
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            await d.handle.ack()
        await self.nc.flush()

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            await d.handle.in_progress()
        await self.nc.flush()

    async def lag(self) -> int | None:
        info = await self.nc.jetstream().consumer_info(self.stream, self.durable)
        return int(info.num_pending or 0)

    async def close(self) -> None:
        if self.sub is not None:
            try:
                await self.sub.unsubscribe()
            except Exception as exc:
                logger.debug("unsubscribe: %s", exc)
        if self.nc is not None:
            await self.nc.drain()
