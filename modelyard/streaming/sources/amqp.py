"""RabbitMQ (AMQP 0-9-1) source through aio-pika: manual acks, a prefetch window.

``amqp://user:pass@host:5672/vhost?queue=events[&prefetch=N][&declare=1]``

- The queue is declared durable if it does not exist (``declare=0``: it must exist already).
- ``prefetch`` (default: the engine's read-ahead, batch size x (in-flight + 1)) bounds the
  unacknowledged messages the broker hands this consumer: the backpressure toward RabbitMQ.
- A message is acknowledged only after its prediction is written; one never acknowledged (the
  consumer died) is requeued by the broker and redelivered.
- The event id is the message's ``message_id`` property; publishers should set it. A message
  without one gets the SHA-256 of its body, so its redelivery still has the same id.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from modelyard.streaming.base import BaseSource, Delivery
from modelyard.streaming.uris import EndUri


def amqp_url(end: EndUri) -> str:
    return end.base


class AmqpSource(BaseSource):
    def __init__(self, end: EndUri, *, prefetch: int = 1000, **_: object) -> None:
        self.end = end
        self.queue_name = end.option("queue", required=True)
        self.prefetch = end.int_option("prefetch", prefetch)
        self.declare = end.option("declare", "1") not in ("0", "false", "no")
        self._buffer: asyncio.Queue = asyncio.Queue()
        self.connection = None
        self.channel = None
        self.queue = None

    async def start(self) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(amqp_url(self.end))
        self.channel = await self.connection.channel()
        await self.channel.set_qos(prefetch_count=self.prefetch)
        self.queue = await self.channel.declare_queue(self.queue_name, durable=True, passive=not self.declare)
        self._tag = await self.queue.consume(self._buffer.put)

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self._buffer.get(), timeout_s) if timeout_s > 0 else self._buffer.get_nowait()
        except (TimeoutError, asyncio.QueueEmpty):
            return []
        messages = [first]
        while len(messages) < max_messages and not self._buffer.empty():
            messages.append(self._buffer.get_nowait())
        return [_delivery(m) for m in messages]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """One ``basic.ack multiple`` up to the batch's last delivery tag: batches are scored in the
        order they were delivered on this channel, so every earlier delivery is done too."""
        if deliveries:
            last = max(deliveries, key=lambda d: d.handle.delivery_tag)
            await last.handle.ack(multiple=True)

    async def lag(self) -> int | None:
        declared = await self.channel.declare_queue(self.queue_name, passive=True)
        return declared.declaration_result.message_count

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


def _delivery(message) -> Delivery:
    message_id = message.message_id or hashlib.sha256(message.body).hexdigest()
    stamp = message.timestamp.timestamp() if message.timestamp is not None else None
    return Delivery(message_id, message.body, message, stamp, 2 if message.redelivered else 1)
